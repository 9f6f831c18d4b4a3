"""The Checkpointing page, opened as a link would open it: what it shows, measured again outside the app."""

from core.analysis.checkpoint_memory import backward_steps, best_k, checkpoint_layout, depth_sweep, k_sweep
from tests.page_testing import captions, chart, charts, metrics, open_page, texts

SMALL = {"w_ckpt_to": 16, "w_ckpt_width": 32, "w_ckpt_batch": 16}  # a sweep of 4, 8 and 16 layers: well under a second


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
    assert len(charts(at)) == 5
    memory = depth_sweep([4, 8, 16], 32, 16, (None, "sqrt", 4), reps=0).set_index(["variant", "depth"])["peak_bytes"]
    shown = chart(at, "Peak memory of one training step").frame_with("peak_bytes", "variant")
    assert shown.set_index(["variant", "depth"])["peak_bytes"].sort_index().equals(memory.sort_index())
    sqrt, plain = memory["k = ⌈√(n+1)⌉", 16], memory["plain backprop", 16]
    m = metrics(at)
    assert m["Memory at n = 16, k = 5"] == f"{sqrt / 1e6:.3g} MB"
    assert m["Best k at n = 16"] == str(best_k(k_sweep(16, 32, 16, reps=0)))
    assert f"{plain / sqrt:.1f}× less" in texts(at)
    assert at.button(key="w_ckpt_run").disabled  # measured: the button waits for a new setup


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
