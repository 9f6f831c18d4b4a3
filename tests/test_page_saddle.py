"""The Saddle-points page, opened from the entrypoint as a user would."""

import numpy as np

from app.text import plain
from core.analysis.curvature.random_matrices import goe_positive_fraction
from tests.page_testing import chart, open_page


def latex(at):
    return " ".join(e.value for e in at.latex)


def critical(at):
    """The classification table (the page's first dataframe)."""
    return at.dataframe[0].value


def positions(at):
    """Where each optimizer is at the shown step (the second dataframe), by optimizer."""
    return at.dataframe[1].value.set_index("optimizer")


def test_default_saddle_classified_and_gd_escapes_along_y():
    at = open_page("saddle")
    table = critical(at)
    assert table[["x", "y", "value", "eig1", "eig2"]].values.tolist() == [[0, 0, 0, -2, 2]]
    assert table["kind"].tolist() == ["saddle"]
    assert list(table.columns)[:3] == ["kind", "eig1", "eig2"]  # what the narrow column shows at 1,440 px
    assert at.selectbox(key="w_sad_point").value == "saddle at (0, 0)"
    text = latex(at)
    assert r"\lambda_1 = -2,\ v_1 = (0, 1)" in text and r"\lambda_2 = 2,\ v_2 = (1, 0)" in text
    assert r"= 1.2 \cdot 0.001 = 0.0012" in text and r"= 0.8 \cdot 1 = 0.8" in text
    gd = positions(at).loc["Gradient descent"]
    assert gd.step == 40 and np.isclose(gd.y, 1e-3 * 1.2**40) and np.isclose(gd.x, 0.8**40)  # escapes along y
    assert any("Momentum left the region" in w.value for w in at.warning)
    # the surface chart marks the saddle and draws the paths the table ends on
    surface = chart(at, "The surface, its critical points")
    assert surface.frame_with("kind", "eig1")[["x", "y", "kind"]].values.tolist() == [[0, 0, "saddle"]]
    drawn = max((f for f in surface.frames if {"optimizer", "step"} <= set(f.columns)), key=len)
    end = drawn[drawn.optimizer == "Gradient descent"].sort_values("step").iloc[-1]
    assert end.step == 40 and (end.x, end.y) == (gd.x, gd.y)
    loss = chart(at, "Loss per step").frame_with("optimizer", "loss")
    assert np.isclose(loss[loss.optimizer == "Gradient descent"].loss.iloc[-1], gd.x**2 - gd.y**2)


def test_start_on_the_stable_manifold_converges_then_off_it_escapes():
    at = open_page("saddle")
    at.multiselect(key="w_sad_opt").set_value(["gd"]).run()
    at.number_input(key="w_sad_y0").set_value(0.0).run()
    assert not at.exception
    gd = positions(at).loc["Gradient descent"]
    assert gd.y == 0 and abs(gd.x) < 1e-3 and abs(gd.loss) < 1e-6  # converged to the saddle at the origin
    assert not at.warning
    at.slider(key="w_sad_step").set_value(10).run()
    gd = positions(at).loc["Gradient descent"]
    assert gd.step == 10 and np.isclose(gd.x, 0.8**10)
    assert r"0.8^{10} \cdot 1 = 0.1074" in latex(at)
    at.number_input(key="w_sad_y0").set_value(0.001).run()
    at.slider(key="w_sad_step").set_value(40).run()
    assert not at.exception
    gd = positions(at).loc["Gradient descent"]
    assert gd.y > 1 and abs(gd.x) < 1e-3  # escaped along y, the direction with λ = −2


def test_other_surfaces_change_the_classification():
    at = open_page("saddle")
    at.selectbox(key="w_sad_surface").set_value("double_well").run()
    table = critical(at)
    assert table["kind"].tolist() == ["minimum", "minimum", "saddle"]
    assert np.allclose(table[["x", "value"]].values, [[-1, -1], [1, -1], [0, 0]])
    assert at.selectbox(key="w_sad_point").value == "minimum at (1, 0)"  # the nearest to the start (1, 0.001)
    at.selectbox(key="w_sad_surface").set_value("camel").run()
    assert critical(at)["kind"].value_counts().to_dict() == {"saddle": 7, "minimum": 6, "maximum": 2}
    at.selectbox(key="w_sad_surface").set_value("monkey").run()
    assert not at.exception and critical(at)["kind"].tolist() == ["degenerate"]


def test_typed_surface_and_a_refused_one():
    at = open_page("saddle")
    at.selectbox(key="w_sad_surface").set_value("typed").run()
    at.text_input(key="w_sad_expr").set_value("x^2 + 3y^2").run()
    assert not at.exception
    table = critical(at)
    assert table[["x", "y", "eig1", "eig2"]].values.tolist() == [[0, 0, 2, 6]] and table.kind[0] == "minimum"
    at.text_input(key="w_sad_expr").set_value("__import__('os').system('ls')").run()
    assert not at.exception
    assert any(plain("unknown name '__import__'") in e.value for e in at.error)  # shown as typed, not as Markdown
    assert not at.dataframe and not at.get("vega_lite_chart")
    at.text_input(key="w_sad_expr").set_value("exp(exp(exp(x)))").run()
    assert not at.exception and any("is not finite" in e.value for e in at.error)


def test_diverging_path_gives_a_clear_message():
    at = open_page("saddle")
    at.multiselect(key="w_sad_opt").set_value(["gd"]).run()
    at.number_input(key="w_sad_lr").set_value(1.5).run()  # |1 − ηλ| = |1 − 1.5·2| = 2 along x
    assert not at.exception
    (warning,) = at.warning
    assert "Gradient descent left the region" in warning.value and "Lower the learning rate" in warning.value
    gd = positions(at).loc["Gradient descent"]
    assert gd.step < 40 and np.isfinite(gd.loss)
    at.multiselect(key="w_sad_opt").set_value([]).run()
    assert not at.exception and any("Pick at least one optimizer" in i.value for i in at.info)


def test_stall_preset_gd_stalls_while_noise_and_momentum_escape():
    at = open_page("saddle")
    at.button(key="w_sad_stall").click().run()
    assert not at.exception
    assert at.selectbox(key="w_sad_surface").value == "double_well"
    assert at.selectbox(key="w_sad_point").value == "saddle at (0, 0)"
    now = positions(at)
    assert (now.step == 60).all()
    assert abs(now.loc["Gradient descent", "loss"]) < 1e-3  # still at the saddle, f = 0
    assert now.loc["Momentum", "loss"] < -0.8 and now.loc["SGD + noise", "loss"] < -0.9  # in a minimum, f = −1
    assert r"(1 - 0.05 \cdot (-4))" in latex(at)


def test_coin_flip_sentence_uses_the_measured_numbers():
    at = open_page("saddle")
    coin = goe_positive_fraction()
    last = int(coin.d[coin.positive > 0].max())
    text = " ".join(m.value for m in at.markdown)
    assert f"{coin.fraction[0]:.3f} were positive definite at d = 1" in text
    assert f"{coin.positive[last - 1]:,} in 1,000,000 at d = {last}" in text and f"none from d = {last + 1} on" in text
    drawn = max(chart(at, "How often is a random critical point a minimum").frames, key=len)  # every series
    measured = drawn[drawn.series.str.startswith("measured")].set_index("d")["value"]
    assert measured.index.tolist() == list(range(1, last + 1))
    assert np.array_equal(measured, coin.set_index("d")["fraction"][:last])
