"""Course questions 3–5: the Hessian at a local minimum, minima vs saddles as the dimension grows, and gradient
descent near a saddle. See ``core.analysis.course.questions`` for what an ``Answer`` holds.
"""

import math

import numpy as np
import pandas as pd

from core.analysis.batchnorm.study import progress_ticker
from core.analysis.course.questions import Answer, CourseError, Link
from core.analysis.curvature.random_matrices import goe_positive_fraction
from core.analysis.curvature.surfaces import SURFACES, critical_points, eigen
from core.analysis.curvature.trajectories import gd_step_near, trajectory
from core.analysis.text.gd_steps import gd_step_sentences
from core.analysis.text.notation import SUPERSCRIPTS
from core.data import load_dataset
from core.nn.weights import flatten, unflatten
from core.threads import one_thread
from core.training.backends import initial_weights

# ---- 3. the Hessian at a local minimum ----

HESSIAN_NET = {"dataset": "moons", "n_samples": 80, "noise": 0.2, "hidden": (4,), "activation": "elu", "seed": 0}


def minimize_loss(weights, activation, X, y, l2, max_iter=2_000):
    """A local minimum of J(θ) = L(θ) + (l2/2)‖θ‖², L the mean cross-entropy of the NumPy MLP on (X, y), full batch.

    BFGS (``scipy.optimize.minimize``) on the hand-derived gradient ∇J = ∇L + l2 θ, from ``weights``; the L2 term
    makes the minimum strict (the cross-entropy alone is flat along some directions and keeps falling as the
    weights grow on separable data). Returns (weights at the minimum, iterations, ‖∇J‖ there).
    """
    from scipy.optimize import minimize

    from core.nn.mlp import MLP

    mlp = MLP.from_weights(weights, activation)
    names = [name for name, _, _ in mlp.named_parameters()]
    shapes = [np.shape(weights[n]) for n in names]

    def J(theta):
        mlp.set_weights(unflatten(theta, names, shapes))
        loss, _ = mlp.loss_and_backward(X, y)
        g = flatten(mlp.get_grads(), names)  # (P,) ∇L by the hand-derived backward
        return loss + 0.5 * l2 * theta @ theta, g + l2 * theta

    result = minimize(J, flatten(weights, names), jac=True, method="BFGS", options={"gtol": 1e-10, "maxiter": max_iter})
    theta = result.x
    return unflatten(theta, names, shapes), int(result.nit), float(np.linalg.norm(J(theta)[1]))


def hessian_at_minimum(l2=1e-3, net=None, progress=None):
    """Q3: every eigenvalue of the Hessian at a local minimum, measured on a small trained net and on a toy surface.

    The net (``HESSIAN_NET``: 2 → 4 → 2 ELU on 48 training points of two moons) is trained to a minimum of
    J = L + (l2/2)‖θ‖² by ``minimize_loss``; its Hessian ∇²J = ∇²L + l2·I, with ∇²L by PyTorch autograd
    (``core.analysis.curvature.hessian.full_hessian``), gives every eigenvalue (``numpy.linalg.eigvalsh``), also at the
    initial weights for contrast. The toy surface is the double well x⁴ − 2x² + y² (``SURFACES``).

    Returns an ``Answer`` whose frame has one row per eigenvalue: subject ("network", "surface"), point, rank
    (1 = the smallest), eigenvalue.
    """
    from core.analysis.curvature.hessian import full_hessian

    net = {**HESSIAN_NET, **(net or {})}
    if not (isinstance(l2, (int, float)) and 0 < l2 <= 1):
        raise CourseError(f"the L2 coefficient must be in (0, 1], got {l2!r}")
    tick = progress_ticker(progress, 3)
    data = load_dataset(net["dataset"], n_samples=net["n_samples"], noise=net["noise"], seed=net["seed"])
    X, y = data.X_train, data.y_train
    start = initial_weights(data.n_features, net["hidden"], data.n_classes, net["seed"])
    tick()
    with one_thread():
        minimum, iterations, grad_norm = minimize_loss(start, net["activation"], X, y, l2)
        tick()
        eig = {}
        for point, weights in (("initial weights", start), ("trained minimum", minimum)):
            H = full_hessian(weights, X, y, activation=net["activation"])  # (P, P) ∇²L
            eig[point] = np.linalg.eigvalsh(H + l2 * np.eye(len(H)))  # (P,) ascending, of ∇²J
    tick()
    lam, lam0 = eig["trained minimum"], eig["initial weights"]
    critical = critical_points(SURFACES["double_well"])
    kinds = critical.set_index("kind")
    well_min, well_saddle = kinds.loc[["minimum"]].iloc[0], kinds.loc[["saddle"]].iloc[0]
    rows = [
        {"subject": "network", "point": p, "rank": i + 1, "eigenvalue": float(v)}
        for p, values in eig.items()
        for i, v in enumerate(values)
    ]
    for r in (well_min, well_saddle):
        where = f"{r.name} at ({r.x:.3g}, {r.y:.3g})"
        rows += [
            {"subject": "surface", "point": where, "rank": i + 1, "eigenvalue": float(v)}
            for i, v in enumerate((r.eig1, r.eig2))
        ]
    P = len(lam)
    flat = int(np.sum(np.abs(lam - l2) <= 0.01 * l2))
    shift = net["hidden"][-1] + 1  # the same change to every class's output weights (H) and bias (1)
    figures = {
        "parameters": P,
        "smallest": float(lam[0]),
        "largest": float(lam[-1]),
        "smallest_relative": float(lam[0] / lam[-1]),
        "negative": int(np.sum(lam < 0)),
        "negative_initial": int(np.sum(lam0 < 0)),
        "smallest_initial": float(lam0[0]),
        "grad_norm": grad_norm,
        "iterations": iterations,
        "near_l2": flat,
        "softmax_shifts": shift,
        "l2": float(l2),
        "surface_min": (float(well_min.eig1), float(well_min.eig2)),
        "surface_saddle": (float(well_saddle.eig1), float(well_saddle.eig2)),
    }
    f = figures
    widths = " → ".join(str(w) for w in (data.n_features, *net["hidden"], data.n_classes))
    sign = "every one is ≥ 0" if f["negative"] == 0 else f"**{f['negative']} are negative**: this point is a saddle"
    strict = "; here all are > 0, a strict minimum" if f["smallest"] > 0 else ""
    answer = (
        f"At the minimum of a small net ({widths} {net['activation'].upper()}, {P} parameters, {len(y)} training "
        "points of "
        f"{net['dataset']}), all {P} eigenvalues of the Hessian were measured and {sign}: they run from "
        f"**{f['smallest']:.3g}** to "
        f"**{f['largest']:.3g}** (smallest ÷ largest = {f['smallest_relative']:.2g}). At the initial weights "
        f"{f['negative_initial']} of the {P} were negative (down to {f['smallest_initial']:.3g}): there the loss still "
        f"curves down along some directions. On the surface x⁴ − 2x² + y² the minimum at ({well_min.x:.3g}, "
        f"{well_min.y:.3g}) has eigenvalues {well_min.eig1:.4g} and {well_min.eig2:.4g}, the saddle at "
        f"({well_saddle.x:.3g}, {well_saddle.y:.3g}) {well_saddle.eig1:.4g} and {well_saddle.eig2:.4g}.\n\n"
        "**Why.** At a minimum θ* the gradient is 0, so along any unit direction v the loss is "
        "L(θ* + εv) ≈ L(θ*) + ½ ε² vᵀHv. If an eigenvalue λ were negative, a small step along its eigenvector would "
        f"lower the loss by ½ ε² |λ|, and θ* would not be a minimum. So every eigenvalue is ≥ 0{strict}. {flat} "
        f"eigenvalues lie within 1 % of λ = {l2:g}, the L2 term's own curvature: directions along "
        f"which the cross-entropy itself is flat. {shift} of them must be: adding the same vector to every class's "
        "output weights and the same number to every output bias shifts all logits alike, which leaves the softmax "
        "unchanged."
    )
    method = (
        f"Minimum reached by full-batch BFGS (SciPy) on the hand-derived gradient of J(θ) = L(θ) + "
        f"(λ/2)‖θ‖², λ = {l2:g}, from the seeded initial weights: {iterations} iterations, ‖∇J‖ = "
        f"{grad_norm:.1e} at the end. Hessian ∇²J = ∇²L + λI with ∇²L by PyTorch autograd (float64); every "
        "eigenvalue by `numpy.linalg.eigvalsh`. A net trained a few epochs by SGD sits near a minimum, not at "
        "one, so it was not used here."
    )
    small = {
        "dataset": net["dataset"],
        "n_samples": str(net["n_samples"]),
        "noise": str(net["noise"]),
        "depth": str(len(net["hidden"])),
        "width": str(net["hidden"][0]),
        "activation": net["activation"],
        "lr": "0.3",
        "batch_size": "16",
    }
    links = (
        Link("hessian", "The Hessian spectrum of a small net", small),
        Link("saddle-points", "Minima and saddles on 2-D surfaces", {}),
    )
    return Answer(3, answer, method, figures, pd.DataFrame(rows), links)


# ---- 4. minima vs saddles as the dimension grows ----


def coin_flip(max_dim=30, n=200_000, seed=0):
    """Q4: the measured fraction of random symmetric d × d matrices that are positive definite, beside 2⁻ᵈ.

    ``core.analysis.curvature.random_matrices.goe_positive_fraction``. Returns an ``Answer`` whose frame is its table
    (d, samples, positive, fraction, std_error, upper95, coin_flip).
    """
    if not (isinstance(max_dim, int) and 3 <= max_dim <= 30):
        raise CourseError(f"the largest dimension must be a whole number from 3 to 30, got {max_dim!r}")
    frame = goe_positive_fraction(max_dim, n, seed)
    by_d = frame.set_index("d")
    found = frame[frame["positive"] > 0]
    last = int(found["d"].max())
    figures = {
        "n": n,
        "fraction_1": float(by_d.loc[1, "fraction"]),
        "fraction_2": float(by_d.loc[2, "fraction"]),
        "fraction_3": float(by_d.loc[3, "fraction"]),
        "last_d": last,
        "count_last": int(by_d.loc[last, "positive"]),
        "fraction_last": float(by_d.loc[last, "fraction"]),
        "coin_last": 0.5**last,
        "none_from": last + 1 if last < max_dim else None,
    }
    f = figures
    none = f" and none at all from d = {f['none_from']} on (below 3/n = {3 / n:.0e})" if f["none_from"] else ""
    answer = (
        "A critical point is a minimum only if all d eigenvalues of its Hessian are positive. If each sign were a "
        "fair "
        f"coin flip that would happen with chance 2⁻ᵈ. Measured on {n:,} random symmetric matrices per dimension: "
        f"**{f['fraction_1']:.3f}** were positive definite at d = 1, **{f['fraction_2']:.3f}** at d = 2 (2⁻² = 0.25), "
        f"{f['fraction_3']:.4f} at d = 3 (2⁻³ = 0.125), {f['count_last']:,} in {n:,} at d = {last} "
        f"({f['fraction_last']:.1e}, against 2⁻{str(last).translate(SUPERSCRIPTS)} = {f['coin_last']:.1e}){none}. The "
        "eigenvalues of a random "
        "matrix repel each other, so all of them positive is even rarer than independent coin flips. A network has "
        "thousands to millions of weights: unless its Hessian is far from random, almost every critical point it "
        "meets is a saddle, and the practical question is how fast gradient descent leaves saddles."
    )
    method = (
        f"`goe_positive_fraction`: {n:,} matrices (G + Gᵀ)/2 with G standard normal (seed {seed}), grown one row "
        f"and column at a time up to d = {max_dim}; a matrix counts when its smallest eigenvalue is > 0."
    )
    links = (
        Link("saddle-points", "The coin flip, with a million matrices", {}),
        Link(
            "hessian",
            "Negative eigenvalues of a real network's Hessian",
            {"dataset": "digits", "depth": "1", "width": "16", "activation": "elu"},
        ),
    )
    return Answer(4, answer, method, figures, frame, links)


# ---- 5. gradient descent near a saddle ----

OFFSETS = (1e-2, 1e-4, 1e-6, 1e-8)  # how far from the saddle's stable line the escapes start
HALFWAY = 0.5  # escaped: half way from the saddle (0, 0) to a minimum (±1, 0) of the double well


def saddle_escape(lr=0.05, offsets=OFFSETS, start_y=1.5, shown=1e-6, steps=150):
    """Q5: one gradient-descent step near a saddle in the Hessian's eigenbasis, and how long escaping takes.

    On the double well x⁴ − 2x² + y² (saddle at the origin, H = diag(−4, 2)), GD starts at (offset, start_y) for each
    offset: the (1 − ηλ) factors (``gd_step_near``) shrink the distance along the curving-up direction and grow the
    tiny one along the curving-down direction. The escape step is the first at which |u₁| ≥ ``HALFWAY``; the linear
    picture predicts ⌈log(HALFWAY / offset) / log|1 − ηλ₁|⌉.

    Returns an ``Answer`` whose frame follows the path from offset ``shown``: step, direction, measured |uᵢ| and
    predicted |(1 − ηλᵢ)ᵗ uᵢ(0)|.
    """
    if not (isinstance(lr, (int, float)) and 0 < lr < 0.5):
        raise CourseError(f"the learning rate must be in (0, 0.5) for gradient descent to settle here, got {lr!r}")
    if shown not in offsets or not all(0 < o < HALFWAY for o in offsets):
        raise CourseError(f"offsets must lie in (0, {HALFWAY}) and include the one shown ({shown!r})")
    surface, center = SURFACES["double_well"], np.zeros(2)
    lam, V = eigen(surface.hessian(0.0, 0.0))  # (2,) λ₁ < 0 < λ₂, (2, 2) columns v₁, v₂
    step = gd_step_near(surface, center, (shown, start_y), lr)
    factors = 1 - lr * lam  # (2,)
    escapes, frame = [], None
    for offset in offsets:
        path, _ = trajectory(surface, (offset, start_y), "gd", lr, steps)  # (T + 1, 2)
        u = np.abs((path - center) @ V)  # (T + 1, 2) distances along v₁, v₂
        out = np.flatnonzero(u[:, 0] >= HALFWAY)
        predicted = math.ceil(math.log(HALFWAY / offset) / math.log(abs(factors[0])))
        escapes.append({"offset": offset, "measured": int(out[0]) if out.size else None, "predicted": predicted})
        if offset == shown:
            t = np.arange(len(path))
            names = [f"v{'₁₂'[i]}: λ = {lam[i]:.3g}, 1 − ηλ = {factors[i]:.3g}" for i in range(2)]
            frame = pd.concat(
                [
                    pd.DataFrame(
                        {
                            "step": t,
                            "direction": names[i],
                            "measured": u[:, i],
                            "predicted": np.abs(factors[i] ** t * u[0, i]),
                        }
                    )
                    for i in range(2)
                ],
                ignore_index=True,
            )
    escapes = pd.DataFrame(escapes)
    if escapes["measured"].isna().any():
        raise CourseError(f"gradient descent did not escape within {steps} steps: allow more steps")
    gaps = np.diff(escapes["measured"].to_numpy()) / np.diff(np.log10(escapes["offset"].to_numpy()))
    figures = {
        "lr": lr,
        "eigenvalues": tuple(float(v) for v in lam),
        "factors": tuple(float(v) for v in factors),
        "escape_steps": tuple(int(s) for s in escapes["measured"]),
        "predicted_steps": tuple(int(s) for s in escapes["predicted"]),
        "offsets": tuple(offsets),
        "steps_per_decade": float(-gaps.mean()),
        "actual_step": tuple(float(v) for v in step["actual"]),
        "predicted_step": tuple(float(v) for v in step["predicted"]),
    }
    f = figures
    sentences = "\n".join(f"- {s}" for s in gd_step_sentences(step))
    timeline = ", ".join(
        f"{o:.0e}: {m} steps (predicted {p})" for o, m, p in zip(offsets, f["escape_steps"], f["predicted_steps"])
    )
    answer = (
        f"Near a critical point ∇f ≈ H (p − p*), so a step of gradient descent with learning rate η = {lr:g} "
        "multiplies the distance uᵢ along each eigenvector vᵢ of H by (1 − ηλᵢ). At the saddle of x⁴ − 2x² + y²:\n"
        f"{sentences}\n\n"
        f"Starting at ({shown:g}, {start_y:g}), one true step gives u = ({f['actual_step'][0]:.4g}, "
        f"{f['actual_step'][1]:.4g}), the factors predict ({f['predicted_step'][0]:.4g}, "
        f"{f['predicted_step'][1]:.4g}). "
        f"**Why escaping is slow:** near the saddle the gradient is nearly 0 along v₁, and the distance along it grows "
        f"only by {abs(f['factors'][0]):.3g}× per step from wherever it started. Steps until half way to a minimum, by "
        f"how far off the saddle's stable line GD starts: {timeline}. Every factor of 10 closer costs about "
        f"**{f['steps_per_decade']:.1f} more steps**, measured (log 10 / log {abs(f['factors'][0]):.3g} = "
        f"{np.log(10) / np.log(abs(f['factors'][0])):.1f} predicted), whatever the curvature elsewhere."
    )
    method = (
        f"`trajectory` (plain gradient descent, η = {lr:g}) from (offset, {start_y:g}) on the double well; u = "
        "Vᵀ(p − p*) with V the Hessian's eigenvectors at the saddle p* = (0, 0) (`gd_step_near`); escaped when "
        f"|u₁| ≥ {HALFWAY:g}."
    )
    links = (
        Link("saddle-points", "Optimizers at a saddle (press “Stall at a saddle, then escape”)", {}),
        Link(
            "hessian",
            "The most negative eigenvalue of a real network",
            {"dataset": "digits", "depth": "1", "width": "16", "activation": "elu"},
        ),
    )
    return Answer(5, answer, method, figures, frame, links)
