"""Scales, ticks and number formats every chart shares, so they mean the same thing on every page."""

import altair as alt
import numpy as np

CLASS_COLORS = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
]
# Training curves: the per-step mini-batch loss (faint), the epoch means on the training set, validation.
SERIES_COLORS = {"mini-batch": "#9e9e9e", "train (epoch mean)": "#1f77b4", "validation": "#ff7f0e"}
# Lines that must be told apart at a glance (layers, activations): Tableau 10, not shades of one hue.
DISTINCT_COLORS = [
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
]
# One colour per activation on every chart that compares activations (keys of core.nn.activations.ACTIVATIONS).
ACTIVATION_COLORS = {
    "sigmoid": "#4e79a7",
    "tanh": "#f28e2b",
    "relu": "#e15759",
    "elu": "#59a14f",
    "leaky_relu": "#b07aa1",
    "identity": "#9c755f",
}
NUMBER = ".3~g"  # legends, axes and tooltips of values that can be huge or tiny: 0.25, 1.5e+12, 3e-7
# Log-axis tick labels over many decades: 0.001 … 1000 written out, beyond that 1e-7, 1e+6 (never 0.000001)
MAX_STEPS_DRAWN = 400  # steps per line on charts over training steps: long runs draw quickly
LOG_LABELS = "datum.value >= 0.001 && datum.value < 10000 ? format(datum.value, '~g') : format(datum.value, '.0e')"


def thin_steps(frame, max_points=MAX_STEPS_DRAWN, by=None):
    """The rows of every k-th ``step`` (k the smallest that leaves at most about ``max_points`` steps), the
    first step always, and the last step of each line (grouped by the column ``by``) always, so a line still
    ends where it ended: a long run draws quickly and keeps its shape."""
    if not len(frame):
        return frame
    steps = frame["step"]
    first = steps.min()
    k = max(1, int(np.ceil((steps.max() - first + 1) / max_points)))
    if k == 1:
        return frame
    last = frame.groupby(by)["step"].transform("max") if by else steps.max()
    return frame[((steps - first) % k == 0) | (steps == last)]


def diverging_scale(values, scheme="redblue"):
    """A colour scale centred on zero (blue negative, red positive) spanning ±max|finite values|.

    NaN and ±∞ do not set the domain; values beyond it (e.g. ∞) are clamped to its ends.
    """
    finite = np.abs(np.asarray(values, dtype=np.float64))
    finite = finite[np.isfinite(finite)]
    m = float(finite.max()) if finite.size else 1.0
    m = m if m > 0 else 1.0
    return alt.Scale(scheme=scheme, domain=[-m, m], reverse=True, clamp=True)


def class_scale(class_names):
    """Fixed colours per class name, the same on every chart."""
    return alt.Scale(domain=list(class_names), range=CLASS_COLORS[: len(class_names)])


def series_scale(series):
    """Colours of the training-curve series present in a chart (only those appear in its legend)."""
    return alt.Scale(domain=list(series), range=[SERIES_COLORS[s] for s in series])


def distinct_scale(names):
    """Clearly different hues for up to 10 named lines, in the order given."""
    names = list(names)
    return alt.Scale(domain=names, range=[DISTINCT_COLORS[k % len(DISTINCT_COLORS)] for k in range(len(names))])


def activation_scale(labels):
    """The colours of ``ACTIVATION_COLORS`` for the activations {key: shown name} of a chart, in that order."""
    return alt.Scale(domain=list(labels.values()), range=[ACTIVATION_COLORS[key] for key in labels])


def log_ticks(values, max_ticks=7):
    """Tick values for a log axis that bracket the finite positive ``values``: 1-2-5 steps, or whole decades
    (every k-th) when 1-2-5 steps would give more than ``max_ticks`` labels; never irregular ones like 0.4, 0.05.

    The first and last tick lie at or beyond the data, so ``[ticks[0], ticks[-1]]`` is the axis' domain.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v) & (v > 0)]
    if not v.size:
        return [0.1, 1.0]
    lo, hi = v.min(), v.max()
    decades = 10.0 ** np.arange(np.floor(np.log10(lo)) - 1, np.ceil(np.log10(hi)) + 2)
    ticks = [float(f"{m * d:.12g}") for d in decades for m in (1, 2, 5)]
    start = max(t for t in ticks if t <= lo * (1 + 1e-9))
    end = min(t for t in ticks if t >= hi * (1 - 1e-9))
    if end == start:  # one constant value on a tick
        end = ticks[ticks.index(start) + 1]
    steps = [t for t in ticks if start <= t <= end]
    if len(steps) <= max_ticks:
        return steps
    first, last = int(np.floor(np.log10(lo) + 1e-9)), int(np.ceil(np.log10(hi) - 1e-9))
    k = int(np.ceil((last - first) / (max_ticks - 1)))
    powers = list(range(first, last + k, k))  # every k-th decade, the last at or above the data
    return [float(10.0**p) for p in powers]


def log_domain(ticks):
    """The domain of a log scale whose axis shows ``ticks`` (from ``log_ticks``) end to end."""
    return [min(ticks), max(ticks)]


def spread_labels(positions, gap, lo=-np.inf, hi=np.inf):
    """Positions for labels that would overlap at ``positions`` (one axis, e.g. log₁₀ of the line ends): each at
    least ``gap`` from the next, every crowd centred on the mean of its own positions, all kept in [lo, hi].

    Labels are placed in order; a label that comes within ``gap`` of the crowd below joins it, and the crowd is
    re-centred, until no two crowds are closer than ``gap``. Returns an array in the order given.
    """
    v = np.asarray(positions, dtype=np.float64)
    order = np.argsort(v, kind="stable")
    crowds = []  # [first, last] indices into v[order], each crowd spread evenly about the mean of its members
    for k in range(len(v)):
        crowds.append([k, k])
        while len(crowds) > 1:
            (a0, a1), (b0, b1) = crowds[-2], crowds[-1]
            top_a = v[order[a0 : a1 + 1]].mean() + (a1 - a0) / 2 * gap
            bottom_b = v[order[b0 : b1 + 1]].mean() - (b1 - b0) / 2 * gap
            if bottom_b - top_a >= gap:
                break
            crowds[-2:] = [[a0, b1]]
    out = np.empty_like(v)
    for first, last in crowds:
        n = last - first + 1
        centre = v[order[first : last + 1]].mean()
        centre = min(max(centre, lo + (n - 1) / 2 * gap), hi - (n - 1) / 2 * gap)  # inside [lo, hi] if it fits
        out[order[first : last + 1]] = centre + (np.arange(n) - (n - 1) / 2) * gap
    return out


def fmt(x, digits=4):
    """A number for an equation or a caption: 4 significant digits, no trailing noise."""
    return f"{x:.{digits}g}"
