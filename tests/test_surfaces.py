"""Toy surfaces: exact derivatives, the safe parser, critical points, optimizer paths, the coin flip."""

import numpy as np
import pytest

from core.analysis.curvature.random_matrices import goe_positive_fraction
from core.analysis.curvature.surface_parser import get_surface, parse_surface
from core.analysis.curvature.surfaces import (
    SURFACES,
    SurfaceError,
    classify,
    critical_points,
    eigenvalues,
    surface_grid,
)
from core.analysis.curvature.trajectories import (
    OPTIMIZERS,
    TrajectoryError,
    gd_step_near,
    trajectories,
)
from core.analysis.text.gd_steps import gd_step_latex, gd_step_sentences
from core.nn.gradcheck import numerical_jacobian, rel_error

POINTS = np.random.default_rng(0).uniform(-1.5, 1.5, (6, 2))
TYPED = "sin(2x) cos(y) + x^3 - 3x y^2 + tanh(x y) + exp(-x^2) + log(1 + y^2) + sqrt(2 + x^2) + 0.5^x / (3 + y)"


def check_against_finite_differences(surface, points=POINTS):
    for p in points:
        grad_fd = numerical_jacobian(lambda q: surface.value(*q), p)[0]  # (2,)
        hess_fd = numerical_jacobian(lambda q: surface.gradient(*q), p)  # (2, 2)
        assert rel_error(surface.gradient(*p), grad_fd) < 1e-7, p
        assert np.allclose(surface.hessian(*p), hess_fd, rtol=1e-6, atol=1e-7), p


@pytest.mark.parametrize("key", list(SURFACES))
def test_builtin_derivatives_match_central_differences(key):
    check_against_finite_differences(SURFACES[key])


@pytest.mark.parametrize("key", list(SURFACES))
def test_builtin_derivatives_match_autograd(key):
    torch = pytest.importorskip("torch")
    surface = SURFACES[key]
    for p in POINTS:
        t = torch.tensor(p, dtype=torch.float64, requires_grad=True)
        (grad,) = torch.autograd.grad(surface.f(t[0], t[1]), t)
        hess = torch.autograd.functional.hessian(lambda q: surface.f(q[0], q[1]), t)
        assert np.allclose(surface.gradient(*p), grad.numpy(), rtol=1e-12, atol=1e-12)
        assert np.allclose(surface.hessian(*p), hess.numpy(), rtol=1e-12, atol=1e-12)


def test_typed_surface_derivatives_match_central_differences():
    surface = parse_surface(TYPED)
    check_against_finite_differences(surface)
    # Vectorized over a grid: the shapes the page uses.
    X, Y = np.meshgrid(np.linspace(-1, 1, 4), np.linspace(-1, 1, 3))
    assert surface.value(X, Y).shape == (3, 4)
    assert surface.gradient(X, Y).shape == (3, 4, 2) and surface.hessian(X, Y).shape == (3, 4, 2, 2)


def test_typed_formula_of_a_builtin_gives_its_exact_derivatives():
    typed = parse_surface("(4 - 2.1x^2 + x^4/3) x^2 + x y + (4y^2 - 4) y^2")
    camel = SURFACES["camel"]
    for p in POINTS:
        assert np.isclose(typed.value(*p), camel.value(*p), rtol=1e-12)
        assert np.allclose(typed.gradient(*p), camel.gradient(*p), rtol=1e-12, atol=1e-12)
        assert np.allclose(typed.hessian(*p), camel.hessian(*p), rtol=1e-12, atol=1e-12)
    # Constant second derivatives (x² − y²) still come out as arrays of the right shape.
    assert np.array_equal(parse_surface("x² − y²").hessian(np.zeros(3), np.zeros(3))[:, 0, 0], [2, 2, 2])


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("__import__('os')", "unknown name '__import__'"),
        ("x.real", "'.' is not allowed"),
        ("x.__class__", "'.' is not allowed"),
        ("lambda x: x", "unknown name 'lambda'"),
        ("'x' * 3", "\"'x'\" is not allowed"),
        ("x" + " + x" * 40, "at most 120"),
        ("foo(x)", "unknown name 'foo'"),
        ("xy", "unknown name 'xy' (write x*y)"),
        ("x[0]", "'[' is not allowed"),
        ("0x1f * x", "the number '0x1f' is not allowed"),
        ("1e999 * x", "too large"),
        ("x**99999", "the exponent 99999 is too large"),
        ("9**9**9**9", "the exponent 9**9 is too large"),
        ("sin(exp(exp(exp(10)))) * x", "the number exp(exp(10)) is too large"),
        ("x/0 + y", "1/0 is not a real number"),
        ("exp(exp(exp(x)))", "is not finite"),
        ("(x**50)**50", "is not finite"),
        ("1/x", "is not finite"),
        ("log(x)", "is not finite"),
        ("sqrt(x^2 + y^2)", "the gradient of"),
        ("sin(x", "check the parentheses"),
        ("sin(x, y)", "could not read"),
        ("2 + pi", "does not depend on x or y"),
        ("", "type a formula"),
        # Negative and nested exponents are refused by the exponent check itself, at once (without it, the
        # worker's time bound would refuse them after 2 s as "too costly", a different message).
        ("x + 9**-9**9", "the exponent -1*9**9 is too large"),
        ("x*2**-99999", "the exponent -99999 is too large"),
        ("sin(x)^49^2", "the exponent 49**2 is too large"),
        ("(((2x)^50)^50)^50", "more than 4,300 digits"),
    ],
)
def test_parser_refuses_with_one_clear_line(text, fragment):
    with pytest.raises(SurfaceError) as info:
        parse_surface(text)
    message = str(info.value)
    assert fragment in message and "\n" not in message


@pytest.mark.parametrize(
    "text",
    [
        "x+9^(9^9+x-x)",  # SymPy cancels x - x, then Python computes 9**387420489 holding the interpreter lock
        "x + 9^(9^9 + 0x)",  # 0x is 0 only once evaluated: the exponent check cannot see it
        "^".join(["x"] * 57) + "^y",  # a 58-level tower: deep recursion in SymPy
    ],
)
def test_a_surface_no_check_foresees_is_stopped_by_the_worker_bound(text):
    with pytest.raises(SurfaceError) as info:
        parse_surface(text)
    message = str(info.value)
    assert message.startswith("this surface is too costly to compute") and "\n" not in message


def test_a_surface_on_a_kink_is_flagged_not_smooth_not_degenerate():
    points = critical_points(parse_surface("abs(x) - y**2"))
    assert points[["x", "y", "kind"]].values.tolist() == [[0.0, 0.0, "not smooth"]]
    assert critical_points(parse_surface("x**2 - y**2"))["kind"].tolist() == ["saddle"]  # smooth: no kinks


def test_parser_reads_everyday_notation():
    for text in ("x^2 - y^2", "x**2 - y**2", "x² − y²", "x x - y y"):
        s = parse_surface(text)
        assert np.isclose(s.value(1.5, 0.5), 2.0), text
    assert np.isclose(parse_surface("2x y + E^x + pi").value(1.0, 2.0), 4 + np.e + np.pi)
    assert np.isclose(parse_surface("abs(x) + y^2").hessian(0.3, 1.0)[0, 0], 0.0)  # |x|'' = 0 off the kink
    with pytest.raises(SurfaceError, match="unknown surface"):
        get_surface("nonsense")


def test_classify_by_eigenvalue_signs():
    lam = [[1, 2], [-2, -1], [-1, 1], [0, 1], [-1e-9, 2], [-3, 0], [np.nan, np.nan]]
    kinds = ["minimum", "maximum", "saddle", "degenerate", "degenerate", "degenerate", "degenerate"]
    assert list(classify(lam)) == kinds
    H = np.array([[[2.0, 1.0], [1.0, 2.0]], [[np.inf, 0.0], [0.0, 1.0]]])  # a Hessian that is not finite: NaN, no error
    assert np.allclose(eigenvalues(H)[0], [1, 3]) and np.isnan(eigenvalues(H)[1]).all()


def test_critical_points_of_the_builtins():
    saddle = critical_points(SURFACES["saddle"])
    assert saddle[["x", "y", "value", "eig1", "eig2"]].values.tolist() == [[0, 0, 0, -2, 2]]
    assert saddle["kind"].tolist() == ["saddle"]

    for n_starts in (15, 8):  # 8: no start on the origin, where Newton converges only linearly
        monkey = critical_points(SURFACES["monkey"], n_starts=n_starts)
        assert len(monkey) == 1 and monkey["kind"][0] == "degenerate" and np.abs(monkey[["x", "y"]].values).max() == 0

    well = critical_points(SURFACES["double_well"])
    assert well["kind"].tolist() == ["minimum", "minimum", "saddle"]
    assert np.allclose(well[["x", "y", "value"]].values, [[-1, 0, -1], [1, 0, -1], [0, 0, 0]])
    assert np.allclose(well.loc[2, ["eig1", "eig2"]].astype(float), [-4, 2])

    camel = critical_points(SURFACES["camel"])
    assert camel["kind"].value_counts().to_dict() == {"saddle": 7, "minimum": 6, "maximum": 2}
    best = camel.iloc[:2]  # the two global minima, sorted by value
    assert np.allclose(best["value"], -1.0316284535, atol=1e-9)
    assert np.allclose(np.sort(best["x"]), [-0.0898420131, 0.0898420131], atol=1e-8)
    assert np.allclose(np.linalg.norm(SURFACES["camel"].gradient(camel.x, camel.y), axis=1), 0, atol=1e-9)


def test_critical_points_of_a_typed_surface_and_the_grid():
    s = parse_surface("sin(2x) cos(2y)")
    found = critical_points(s)
    assert found["kind"].value_counts().to_dict() == {"saddle": 6, "minimum": 3, "maximum": 3}
    assert np.allclose(found.loc[found.kind == "maximum", "value"], 1)

    grid = surface_grid(s, n=10)
    assert len(grid) == 100 and grid.x.min() == -2 and np.isclose(grid.x_end.max(), 2)
    row = grid.iloc[13]
    assert np.isclose(row.value, s.value((row.x + row.x_end) / 2, (row.y + row.y_end) / 2))


def paths(start, optimizers=("gd",), lr=0.1, steps=50, surface="saddle", **kw):
    return trajectories(SURFACES[surface], start, list(optimizers), lr, steps, **kw)


def test_gd_on_the_stable_manifold_converges_to_the_saddle_and_escapes_off_it():
    on = paths((1.0, 0.0)).frame
    assert np.isclose(on.x.iloc[-1], 0.8**50) and on.y.eq(0).all()  # x shrinks by 1 − ηλ = 0.8 a step
    assert (on[["eig1", "eig2"]].values == [-2, 2]).all()
    off = paths((1.0, 1e-3)).frame
    assert np.isclose(off.y.iloc[-1], 1e-3 * 1.2**50)  # y grows by 1 − η(−2) = 1.2 a step
    assert off.loss.iloc[-1] < -50


def test_noise_escapes_the_stable_manifold_reproducibly():
    noisy = paths((1.0, 0.0), ("noisy", "momentum"), noise=0.1, seed=3)
    summary = noisy.summary.set_index("optimizer")
    assert abs(summary.loc["SGD + noise", "y"]) > 1 and summary.loc["Momentum", "y"] == 0
    again = paths((1.0, 0.0), ("noisy",), noise=0.1, seed=3).frame
    other = paths((1.0, 0.0), ("noisy",), noise=0.1, seed=4).frame
    assert np.array_equal(again[["x", "y"]].values, noisy.frame[noisy.frame.optimizer == "SGD + noise"][["x", "y"]])
    assert not np.array_equal(again.y.values, other.y.values)


def test_stall_then_escape_on_the_double_well():
    summary = paths((1e-8, 1.5), ("gd", "momentum", "noisy"), lr=0.05, steps=60, surface="double_well")
    s = summary.summary.set_index("optimizer")
    assert abs(s.loc["Gradient descent", "x"]) < 1e-3 and abs(s.loc["Gradient descent", "loss"]) < 1e-3  # stalled
    assert s.loc["Momentum", "loss"] < -0.8 and s.loc["SGD + noise", "loss"] < -0.9  # in a minimum (f = −1)


def test_optimizer_paths_match_torch_optim():
    torch = pytest.importorskip("torch")
    surface, start, lr, steps = SURFACES["camel"], (1.0, 0.5), 0.01, 25
    ours = paths(start, ("gd", "momentum", "nesterov", "adam"), lr, steps, surface="camel").frame
    makers = {
        "Gradient descent": lambda w: torch.optim.SGD([w], lr=lr),
        "Momentum": lambda w: torch.optim.SGD([w], lr=lr, momentum=0.9),
        "Nesterov": lambda w: torch.optim.SGD([w], lr=lr, momentum=0.9, nesterov=True),
        "Adam": lambda w: torch.optim.Adam([w], lr=lr),
    }
    for name, make in makers.items():
        w = torch.tensor(start, dtype=torch.float64, requires_grad=True)
        opt, path = make(w), [start]
        for _ in range(steps):
            opt.zero_grad()
            surface.f(w[0], w[1]).backward()
            opt.step()
            path.append(tuple(w.detach().numpy()))
        assert np.allclose(ours[ours.optimizer == name][["x", "y"]].values, path, rtol=1e-10, atol=1e-12), name


def test_divergence_stops_the_path_with_a_message():
    bowl = paths((1.0, 0.0), ("gd",), lr=1.5, steps=40)  # |1 − ηλ| = |1 − 1.5·2| = 2
    row = bowl.summary.iloc[0]
    assert row.diverged and row.steps < 40 and "Lower the learning rate" in row.message
    assert np.abs(bowl.frame[["x", "y"]].values).max() <= 20 and np.isfinite(bowl.frame.loss).all()
    fall = paths((1.0, 1e-3), ("momentum",), steps=100).summary.iloc[0]
    assert fall.diverged and "keeps falling" in fall.message
    assert not paths((1.0, 0.0)).summary.diverged.any()


@pytest.mark.parametrize(
    ("kw", "fragment"),
    [
        ({"lr": 0}, "learning rate"),
        ({"lr": np.nan}, "learning rate"),
        ({"steps": 0}, "number of steps"),
        ({"steps": 2.5}, "number of steps"),
        ({"noise": -1}, "noise"),
        ({"start": (np.nan, 0)}, "start point"),
        ({"optimizers": ["sgdd"]}, "unknown optimizer"),
    ],
)
def test_bad_trajectory_settings_are_refused(kw, fragment):
    args = {"start": (1.0, 0.0), "optimizers": list(OPTIMIZERS), "lr": 0.1, "steps": 10, "noise": 0.1} | kw
    with pytest.raises(TrajectoryError, match=fragment):
        trajectories(SURFACES["saddle"], **args)


def test_gd_step_near_a_critical_point_in_the_eigenbasis():
    step = gd_step_near(SURFACES["saddle"], (0, 0), (1, 1e-3), 0.1)
    assert step[["eigenvalue", "vx", "vy", "factor", "coord"]].values.tolist() == [
        [-2, 0, 1, 1.2, 1e-3],
        [2, 1, 0, 0.8, 1],
    ]
    assert np.allclose(step.predicted, step.actual)  # exact on a quadratic surface
    # Near the double well's saddle the linear picture holds to second order in the distance.
    for r in (1e-1, 1e-2):
        s = gd_step_near(SURFACES["double_well"], (0, 0), (r, r), 0.1)
        assert np.abs(s.predicted - s.actual).max() < 10 * r**3
    lines = gd_step_latex(step, SURFACES["saddle"].hessian(0, 0), 0.1, 40)
    assert r"(1 - 0.1 \cdot (-2)) \cdot 0.001 = 1.2 \cdot 0.001 = 0.0012" in lines[1]
    assert r"1.2^{40} \cdot 0.001 = 1.47" in lines[3]
    words = gd_step_sentences(step)
    assert "> 1" in words[0] and "escapes" in words[0] and "< 1" in words[1]


def test_coin_flip_fraction_starts_at_one_half_and_falls():
    frame = goe_positive_fraction(n=200_000, seed=1)
    assert frame.d.tolist() == list(range(1, 31)) and np.allclose(frame.coin_flip, 0.5**frame.d)
    p, se = frame.fraction.to_numpy(), frame.std_error.to_numpy()
    assert np.allclose(se, np.sqrt(p * (1 - p) / 200_000)) and abs(p[0] - 0.5) < 4 * se[0]
    assert abs(p[1] - (1 - 1 / np.sqrt(2)) / 2) < 4 * se[1]  # exact for 2 × 2 GOE: (1 − 1/√2)/2
    assert np.all(np.diff(frame.positive) <= 0) and p[3] < p[2] < p[1] < frame.coin_flip[1]
    assert frame.positive[4] > 0 and frame.positive[9:].eq(0).all()
    assert np.isnan(frame.upper95[frame.positive > 0]).all() and np.allclose(frame.upper95[9:], 3 / 200_000)
    again = goe_positive_fraction(max_dim=5, n=200_000, seed=1)
    assert again.positive.tolist() == frame.positive[:5].tolist()


def test_nested_sampling_agrees_with_independent_matrices():
    """The grown matrices are GOE: compare d = 3 with fresh, independent 3 × 3 matrices."""
    n = 200_000
    G = np.random.default_rng(7).standard_normal((n, 3, 3))
    direct = (np.linalg.eigvalsh((G + G.transpose(0, 2, 1)) / 2)[:, 0] > 0).mean()
    nested = goe_positive_fraction(max_dim=3, n=n, seed=8).fraction[2]
    assert abs(direct - nested) < 4 * np.sqrt(2 * direct * (1 - direct) / n)
