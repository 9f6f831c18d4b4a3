"""The "coin flip" argument, measured: how often is a random symmetric matrix positive definite?

At a critical point of a loss in d dimensions the Hessian has d eigenvalues. If each sign were a
fair coin flip, the point would be a minimum (all λ > 0) with probability 2⁻ᵈ. For a random
symmetric matrix from the Gaussian Orthogonal Ensemble (GOE: A = (G + Gᵀ)/2 with G standard
normal, so Aᵢᵢ ~ N(0, 1) and Aᵢⱼ ~ N(0, ½)) the eigenvalues repel each other and the fraction falls
even faster, like exp(−θd²) (Dean & Majumdar, 2006: θ = ln 3 / 4).

The d × d upper-left block of a GOE matrix is itself a GOE matrix, and by Cauchy interlacing its
smallest eigenvalue is at least the smallest of the whole matrix: if the block has an eigenvalue
≤ 0, so does every larger matrix containing it. So ``n`` matrices grow one row and column at a
time, d = 1, 2, …, and only those still positive definite need the next row drawn and their
eigenvalues computed (``np.linalg.eigvalsh`` on the stack): every d is measured on the same
``n`` samples at a fraction of the cost.
"""

import numpy as np
import pandas as pd


def goe_positive_fraction(max_dim=30, n=1_000_000, seed=0):
    """The measured fraction of d × d GOE matrices with all eigenvalues positive, d = 1 … max_dim.

    Args:
        max_dim: the largest dimension d.
        n: matrices drawn (the same n for every d).
        seed: seed of ``np.random.default_rng``.

    Returns:
        DataFrame with one row per d: d, samples (n), positive (the count with all λ > 0),
        fraction (positive / n), std_error (√(p(1 − p)/n), the binomial standard error),
        upper95 (a 95 % upper bound on the fraction when the count is 0: 3/n, the "rule of three";
        NaN otherwise) and coin_flip (2⁻ᵈ).
    """
    if not (1 <= max_dim <= 200 and 1 <= n <= 10_000_000):
        raise ValueError(f"choose 1 ≤ max_dim ≤ 200 and 1 ≤ n ≤ 10,000,000, got max_dim={max_dim}, n={n}")
    rng = np.random.default_rng(seed)
    A = np.zeros((n, 0, 0))  # (m, d − 1, d − 1): the blocks still positive definite
    counts = []
    for d in range(1, max_dim + 1):
        m = len(A)
        grown = np.zeros((m, d, d))
        grown[:, : d - 1, : d - 1] = A
        row = rng.standard_normal((m, d - 1)) * np.sqrt(0.5)  # off-diagonal Aᵢⱼ ~ N(0, ½)
        grown[:, d - 1, : d - 1] = grown[:, : d - 1, d - 1] = row
        grown[:, d - 1, d - 1] = rng.standard_normal(m)  # diagonal Aᵢᵢ ~ N(0, 1)
        positive = np.linalg.eigvalsh(grown)[:, 0] > 0 if m else np.zeros(0, dtype=bool)  # (m,) λ_min > 0
        A = grown[positive]
        counts.append(int(positive.sum()))
    d = np.arange(1, max_dim + 1)
    positive = np.array(counts)
    p = positive / n
    return pd.DataFrame(
        {
            "d": d,
            "samples": n,
            "positive": positive,
            "fraction": p,
            "std_error": np.sqrt(p * (1 - p) / n),
            "upper95": np.where(positive == 0, 3 / n, np.nan),
            "coin_flip": 0.5**d,
        }
    )
