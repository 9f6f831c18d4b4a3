"""The Hessian spectrum page, opened from the entrypoint as a user would."""

import numpy as np

from core.analysis.curvature.hessian import LossHessian, hutchinson_trace, most_negative_eigenvalue, top_eigenvalues
from core.data import load_dataset
from core.training.backends import initial_weights
from tests.page_testing import open_page


def metrics(at):
    return {m.label: m.value for m in at.metric}


def charts(at):
    return len(at.get("vega_lite_chart"))


def default_hessian(batch_size, hidden=(8, 8), batch_norm=False):
    """The page's Hessian for the default setup (two moons, 2 × 8 tanh, seed 42), rebuilt without the app."""
    data = load_dataset("moons", n_samples=400, noise=0.2, seed=42)
    idx = np.sort(np.random.default_rng(42).choice(len(data.y_train), batch_size, replace=False))
    weights = initial_weights(2, hidden, 2, seed=42, dtype="float64", batch_norm=batch_norm)
    return LossHessian(weights, "tanh", data.X_train[idx], data.y_train[idx])


def test_default_page_shows_the_spectrum_of_the_initial_weights():
    at = open_page("hessian")
    H = default_hessian(240)  # all 240 training points: fewer than the default 512
    assert at.number_input(key="w_hes_batch").value == 240
    shown = metrics(at)
    assert shown["Largest eigenvalue λ₁"] == f"{top_eigenvalues(H, 5).values[0]:.4g}"
    assert shown["Most negative eigenvalue"] == f"{most_negative_eigenvalue(H, tol=1e-4).values[0]:.4g}"
    trace = hutchinson_trace(H, 100)
    assert shown["Trace tr H"] == f"{trace.value:.4g} ± {trace.stderr:.2g}"
    assert any("114 parameters" in c.value and "240 training samples" in c.value for c in at.caption)
    assert charts(at) == 5  # top eigenvalues, density, two loss curves, the surface


def test_controls_change_the_numbers():
    at = open_page("hessian")
    before = metrics(at)
    at.number_input(key="w_hes_batch").set_value(64).run()
    assert not at.exception
    after = metrics(at)
    assert after["Largest eigenvalue λ₁"] == f"{top_eigenvalues(default_hessian(64), 5).values[0]:.4g}"
    assert after != before
    at.number_input(key="w_hes_probes").set_value(20).run()
    assert "20 probes" in next(m.help for m in at.metric if m.label == "Trace tr H")
    at.radio(key="w_hes_plane").set_value("eigen").run()
    assert not at.exception and charts(at) == 5
    at.number_input(key="w_hes_k").set_value(1).run()  # one eigenvector: no eigen plane
    assert not at.exception and any("Set k to 2" in i.value for i in at.info)


def test_batch_norm_and_the_spectrum_over_training():
    at = open_page("hessian", batch_norm="1")
    H = default_hessian(240, batch_norm=True)
    assert metrics(at)["Largest eigenvalue λ₁"] == f"{top_eigenvalues(H, 5).values[0]:.4g}"
    assert any("batch norm with the batch's own statistics" in c.value for c in at.caption)
    at.number_input(key="w_hes_epochs").set_value(3).run()
    at.button(key="w_hes_train").click().run()
    assert not at.exception
    assert charts(at) == 7
    assert any(c.value.startswith("After epoch 3: λ₁ =") for c in at.caption)


def test_a_large_batch_shrinks_to_a_smaller_data_set():
    at = open_page("hessian", dataset="digits")
    at.number_input(key="w_hes_batch").set_value(1000).run()
    assert "1,000 training samples" in " ".join(c.value for c in at.caption)
    at.sidebar.selectbox(key="w_dataset").set_value("moons").run()
    assert not at.exception and at.number_input(key="w_hes_batch").value == 240


def test_a_too_large_network_is_stopped_with_a_message():
    at = open_page("hessian", dataset="digits", depth="8", width="512")
    assert any("handles up to 200,000" in i.value for i in at.info)
    assert charts(at) == 0


def test_a_diverged_network_shows_an_error_not_a_crash():
    at = open_page("hessian")
    trainer = next(iter(at.session_state["trainers"].values()))
    trainer.model.set_weights({k: np.full_like(v, np.nan) for k, v in trainer.model.get_weights().items()})
    at.run()
    assert not at.exception
    assert any("not finite" in e.value for e in at.error)
