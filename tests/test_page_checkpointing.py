"""The Checkpointing page, opened as a link would open it: what it shows, measured again outside the app."""

import numpy as np

from core.analysis.checkpointing.steps import backward_steps, checkpoint_layout
from core.analysis.checkpointing.sweeps import best_k, depth_sweep, k_sweep
from tests.page_testing import captions, chart, charts, encoding_fields, metrics, open_page, texts

SMALL = {"w_ckpt_to": 16, "w_ckpt_width": 32, "w_ckpt_batch": 16}  # a sweep of 4, 8 and 16 layers: well under a second
BYTES_NOISE = 1_000  # bytes: what other Python objects of the process may add to a tracemalloc peak


def small_sweep(**changes):
    at = open_page("checkpointing")
    for key, value in {**SMALL, **changes}.items():
        (at.select_slider if key in SMALL else at.number_input)(key=key).set_value(value)
    at.run()
    assert not at.exception
    return at


def test_before_measuring_the_page_offers_the_sweep_and_shows_the_small_net():
    at = open_page("checkpointing")
    assert "Press **Measure**" in texts(at) and at.button(key="w_ckpt_run").label.startswith("Measure (")
    assert [c.title for c in charts(at)] == [
        "Which activations the forward keeps",
        "The checkpointed backward, step by step",
    ]
    shown = chart(at, "Which activations").frame_with("layer", "role")
    assert shown[["layer", "role"]].equals(checkpoint_layout(8, 4)[["layer", "role"]])  # 8 hidden layers, k = 4
    peak = backward_steps(8, 4).in_memory.max()
    assert peak == 5 and any(f"at most {peak} layers hold activations" in c for c in captions(at))


def test_measuring_shows_the_measured_memory_and_the_best_k():
    at = small_sweep()
    at.button(key="w_ckpt_run").click().run()
    assert not at.exception
    assert [c.title for c in charts(at)] == [
        "Peak memory of one training step",
        "Time per training step",
        "Peak memory against k, 16 hidden layers",
        "Which activations the forward keeps",
        "The checkpointed backward, step by step",
    ]
    # tracemalloc counts the whole process: a stray Python object of another thread may add a few bytes
    memory = depth_sweep([4, 8, 16], 32, 16, (None, "sqrt", 4), reps=0).set_index(["variant", "depth"])["peak_bytes"]
    shown = chart(at, "Peak memory of one training step").frame_with("peak_bytes", "variant")
    shown = shown.set_index(["variant", "depth"])["peak_bytes"].sort_index()
    assert shown.index.equals(memory.sort_index().index)
    assert np.allclose(shown, memory.sort_index(), rtol=0, atol=BYTES_NOISE)
    sqrt, plain = memory["k = ⌈√(n+1)⌉", 16], memory["plain backprop", 16]
    m = metrics(at)
    assert m["Memory at n = 16, k = 5"] == f"{shown['k = ⌈√(n+1)⌉', 16] / 1e6:.3g} MB"
    assert abs(float(m["Memory at n = 16, k = 5"].split()[0]) - sqrt / 1e6) < 1e-3
    assert f"{plain / sqrt:.1f}× less" in texts(at)
    # the time metric is the ratio the time chart draws at the deepest net
    seconds = chart(at, "Time per training step").frame_with("seconds", "variant").set_index(["variant", "depth"])
    ratio = seconds.loc[("k = ⌈√(n+1)⌉", 16), "seconds"] / seconds.loc[("plain backprop", 16), "seconds"]
    assert m["Time per step"] == f"{ratio:.2f}× plain" and f"**{ratio:.2f}×** the time per step" in texts(at)
    # the U curve and its best k
    ks = k_sweep(16, 32, 16, reps=0)
    (curve,) = [f for f in chart(at, "Peak memory against k").frames if "k" in f and f["k"].notna().all()]
    curve = curve.sort_values("k")
    assert curve["k"].tolist() == ks["k"].dropna().astype(int).tolist()
    assert np.allclose(curve["peak_bytes"], ks["peak_bytes"].iloc[1:], rtol=0, atol=BYTES_NOISE)
    assert m["Best k at n = 16"] == str(best_k(ks))
    assert at.button(key="w_ckpt_run").disabled  # measured: the button waits for a new setup


def x_and_color(at, title):
    """(x encodings, color encodings) of the chart whose title starts with ``title``, its layers included."""
    found = encoding_fields(chart(at, title).spec)
    return [enc for ch, enc in found if ch == "x"], [enc for ch, enc in found if ch == "color"]


def test_the_charts_keep_their_labels_clear_and_their_axes_on_the_data():
    at = small_sweep()
    at.button(key="w_ckpt_run").click().run()
    for title in ("Peak memory of one training step", "Time per training step"):
        _, colors = x_and_color(at, title)
        assert colors and all((c.get("legend") or {}).get("orient") == "bottom" for c in colors)  # clear of "∝ n"
    xs, _ = x_and_color(at, "Peak memory against k")
    scales = [x["scale"] for x in xs if "scale" in x]
    assert scales and all(scale == {"type": "log", "nice": False} for scale in scales)  # ends at k = L = 17
    for title in ("Which activations", "The checkpointed backward"):
        xs, _ = x_and_color(at, title)
        assert xs and {x.get("axis", {}).get("labelAngle") for x in xs} == {0}  # layer numbers upright


def test_a_second_session_measuring_the_same_setup_gets_the_cached_result():
    """Two students press Measure on the same setup: the second sees the first one's sweep (a cache hit)."""
    shown = []
    for _ in range(2):
        at = small_sweep(w_ckpt_k=3)
        at.button(key="w_ckpt_run").click().run()
        assert not at.exception, at.exception
        shown.append(chart(at, "Peak memory of one training step").frame_with("peak_bytes", "variant"))
    assert shown[0].equals(shown[1])  # the same measurement, not a second one


def test_changing_k_and_depth_changes_what_is_shown():
    at = small_sweep(w_ckpt_k=2, w_ckpt_small=5)
    shown = chart(at, "Which activations").frame_with("layer", "role")
    assert shown[["layer", "role"]].equals(checkpoint_layout(5, 2)[["layer", "role"]])
    steps = chart(at, "The checkpointed backward").frame_with("step", "state")
    assert len(steps) == 6 * 7 and steps.groupby("step").in_memory.first().max() == backward_steps(5, 2).in_memory.max()
    at.button(key="w_ckpt_run").click().run()
    assert not at.exception
    variants = set(chart(at, "Peak memory of one training step").frame_with("variant").variant)
    assert variants == {"plain backprop", "k = ⌈√(n+1)⌉", "k = 2"}
    at.select_slider(key="w_ckpt_from").set_value(8).run()  # a new depth range waits for the button
    assert not at.exception and "Press **Measure**" in texts(at) and len(charts(at)) == 2


def test_impossible_setups_are_refused_with_a_message():
    at = open_page("checkpointing")
    at.select_slider(key="w_ckpt_to").set_value(256)
    at.select_slider(key="w_ckpt_width").set_value(1024)
    at.select_slider(key="w_ckpt_batch").set_value(1024).run()
    assert not at.exception
    assert any("This sweep cannot run" in e.value and "MB of activations" in e.value for e in at.error)
    assert len(charts(at)) == 0
    at.select_slider(key="w_ckpt_to").set_value(4).run()  # "from" is 4 too
    assert not at.exception and "Pick a first depth below the last one" in texts(at)
