"""Sessions are isolated: one student's upload, training or settings never show in another's session.

Caches shared by all sessions (``st.cache_data``, ``st.cache_resource``) must be keyed by what their
result depends on: for an uploaded CSV, the file's content (``app.session.data_key``), never the
settings alone. Two students who upload different files with the same settings see different numbers
on every page that caches per data set; a third who uploads the same file as the first sees the first
one's numbers (a safe cache hit), but not the first one's training.
"""

import ast
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.analysis.traces.grad_flow import gradient_norms_by_depth, gradient_ratio_summary
from core.data import load_dataset
from core.links import DEFAULTS
from core.nn.mlp import MLP
from core.training.trainer import Trainer
from tests.page_testing import ENTRYPOINT, chart, metrics, the_trainer

ROOT = Path(__file__).resolve().parents[1]


def page_constant(page, name):
    """A constant of a page script, read without running the page."""
    for node in ast.parse((ROOT / "pages" / f"{page}.py").read_text()).body:
        if isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == [name]:
            return ast.literal_eval(node.value)
    raise LookupError(name)


def csv_file(feature, seed):
    """60 rows of two features and a label that ``feature`` (0 or 1) separates, drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(60, 2))  # (N, 2)
    rows = [f"{a:.4f},{b:.4f},{'yes' if (a, b)[feature] > 0 else 'no'}" for a, b in X]
    return ("x0,x1,label\n" + "\n".join(rows) + "\n").encode()


FILE_A, FILE_B = csv_file(0, seed=1), csv_file(1, seed=2)


def session(content):
    """A new session that opened a link to "Your own CSV file" and uploaded ``content``."""
    at = AppTest.from_file(ENTRYPOINT, default_timeout=120)
    at.query_params["dataset"] = "csv"
    at.run()
    if content is not None:
        at.sidebar.file_uploader(key="w_csv_file").upload("mine.csv", content, "text/csv")
        at.session_state["w_bn_epochs"] = 2  # short runs: each page's first visit trains
        at.session_state["w_hes_epochs"] = 2
        at.run()
    assert not at.exception, at.exception
    return at


def visit(at, page, button=None):
    at.switch_page(f"../pages/{page}.py").run()
    if button:
        at.button(key=button).click().run()
    assert not at.exception, at.exception
    return at


def values(at, title, column):
    """Every number in ``column`` of the chart whose title starts with ``title`` (all its data sets)."""
    frames = [f[column].to_numpy(dtype=float) for f in chart(at, title).frames if column in f.columns]
    return tuple(np.round(np.concatenate(frames), 10))


def text_with(at, start):
    (found,) = [e.value for e in [*at.markdown, *at.caption] if e.value.startswith(start)]
    return found


# What each page that caches per data set shows, read back: (page, button to press, numbers shown).
CACHED_PER_DATASET = {
    "vanishing gradients": ("backward", "w_bwd_vanish", lambda at: text_with(at, "Before any update")),
    "batch norm pair": ("batchnorm", None, lambda at: values(at, "Loss per epoch", "value")),
    "numpy vs pytorch": ("backends", None, lambda at: values(at, "Mini-batch loss at every step", "loss")),
    "jacobian after training": ("jacobians", None, lambda at: text_with(at, "σ₀ goes from")),
    "spectrum over training": ("hessian", "w_hes_train", lambda at: values(at, "The extremes of", "value")),
}


@pytest.fixture(scope="module")
def shown():
    """What three sessions see on those pages: A and C uploaded the same file, B another; same settings."""
    out = {}
    for name, content in (("A", FILE_A), ("B", FILE_B), ("C", FILE_A)):
        at = session(content)
        out[name] = {what: read(visit(at, page, button)) for what, (page, button, read) in CACHED_PER_DATASET.items()}
        out[name]["session"] = at
    return out


@pytest.mark.parametrize("what", CACHED_PER_DATASET)
def test_different_uploads_with_the_same_settings_show_different_numbers(shown, what):
    assert shown["A"]["session"].session_state["config"] == shown["B"]["session"].session_state["config"]
    assert shown["A"][what] != shown["B"][what]  # B's file, not A's cached result
    assert shown["A"][what] == shown["C"][what]  # the same file: the same numbers (a cache hit is safe here)


def test_the_numbers_shown_are_those_of_the_sessions_own_file(shown):
    at = shown["B"]["session"]
    vanishing = page_constant("backward", "VANISHING")  # the page's own experiment, run here on B's file
    summary = gradient_ratio_summary(gradient_norms_by_depth(at.session_state["csv_dataset"], **vanishing))
    ratio = summary.set_index("activation")["ratio"]
    assert f"gets {ratio['sigmoid']:.1e}× the gradient" in shown["B"]["vanishing gradients"]


def test_the_jacobian_after_training_is_that_of_the_sessions_own_copy(shown):
    """The Jacobians page trains a copy of an untrained run (a shared cache): B's copy, trained on B's file."""
    at = shown["B"]["session"]
    data, config = at.session_state["csv_dataset"], at.session_state["config"]
    steps = page_constant("jacobians", "AFTER_STEPS")
    trainer = Trainer(data, config.train_config().replace(epochs=steps))  # one step per epoch at least: enough
    for _ in range(steps):
        trainer.step()
    net, x, h = MLP.from_weights(trainer.weights(), config.activation).eval(), data.X_test[0], 1e-6
    J = np.stack([(net.logits((x + h * e)[None]) - net.logits((x - h * e)[None]))[0] / (2 * h) for e in np.eye(2)], 1)
    assert f"to {np.linalg.svd(J, compute_uv=False)[0]:.3g}: after training" in shown["B"]["jacobian after training"]


def test_one_sessions_training_never_shows_in_another(shown):
    a, c = shown["A"]["session"], shown["C"]["session"]  # the same file and settings
    visit(a, "playground", "step_epoch")
    assert the_trainer(a).epoch == 1 and metrics(a)["Epochs done"] == "1 / 100"
    visit(c, "playground")
    assert the_trainer(c).global_step == 0 and metrics(c)["Steps"] == "0"
    assert "Nothing trained yet" in " ".join(i.value for i in c.info)
    visit(c, "forward")
    assert "Showing the initial weights (seed 42)" in " ".join(x.value for x in c.caption)


def test_one_sessions_upload_and_settings_never_show_in_another(shown):
    a, b = shown["A"]["session"], shown["B"]["session"]
    assert not np.array_equal(a.session_state["csv_dataset"].X_train, b.session_state["csv_dataset"].X_train)
    b.sidebar.number_input(key="w_depth").set_value(3).run()
    visit(a, "forward")  # A runs after B's change: its own file and settings are still there
    assert a.session_state["config"].depth == DEFAULTS.depth and b.session_state["config"].depth == 3
    assert a.session_state["csv_key"] != b.session_state["csv_key"]
    stranger = visit(session(None), "playground")  # a fourth student asks for "Your own CSV file", uploads nothing
    assert "csv_dataset" not in stranger.session_state
    assert "Upload a CSV file in the sidebar" in " ".join(i.value for i in stranger.info)


def test_no_session_changes_a_shared_built_in_data_set():
    at = AppTest.from_file(ENTRYPOINT, default_timeout=120)
    at.switch_page("../pages/playground.py").run()
    at.button(key="step_epoch").click().run()
    for page in ("forward", "backward", "jacobians", "hessian", "batchnorm"):
        visit(at, page)
    shared = the_trainer(at).data  # the one Dataset object every session shares (st.cache_resource)
    fresh = load_dataset("moons", n_samples=400, noise=0.2, seed=42)
    for part in ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test", "mean", "std"):
        np.testing.assert_array_equal(getattr(shared, part), getattr(fresh, part))


def cached_functions():
    """(file, function, decorator) of every ``st.cache_data`` / ``st.cache_resource`` in app/ and pages/."""
    for path in sorted([*ROOT.glob("pages/*.py"), *ROOT.glob("app/**/*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef):
                for dec in node.decorator_list:
                    if ast.unparse(dec.func if isinstance(dec, ast.Call) else dec).startswith("st.cache_"):
                        yield path.relative_to(ROOT), node, dec


def test_every_shared_cache_has_a_bounded_size():
    found = list(cached_functions())
    assert len(found) >= 20  # the audit reads the pages at all
    for path, fn, dec in found:
        bounded = isinstance(dec, ast.Call) and any(k.arg == "max_entries" for k in dec.keywords)
        assert bounded or not fn.args.args, f"{path}: {fn.name} caches without max_entries"


def test_no_shared_cache_is_keyed_by_the_settings_data_key():
    """``config.data_key()`` names a built-in set by its settings: for an upload it is the same for every file.
    Pages key their caches by ``app.session.data_key(config)``, which names an upload by its content."""
    for path in sorted([*ROOT.glob("pages/*.py"), *ROOT.glob("app/**/*.py")]):
        calls = [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Call)]
        methods = [ast.unparse(c) for c in calls if isinstance(c.func, ast.Attribute) and c.func.attr == "data_key"]
        allowed = (
            ["config.data_key()"] * 2 if path.relative_to(ROOT).as_posix() == "app/session.py" else []
        )  # data_key and _dataset
        assert methods == allowed, f"{path}: {methods}"
