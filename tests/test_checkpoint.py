"""Gradient checkpointing: the same loss and gradients as plain backprop in both backends, nothing cached left
behind, and the measured memory it saves."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from core.analysis.checkpointing.memory import MeasurementError, check_sizes, measure_step
from core.analysis.checkpointing.saved_bytes import SavedBytes
from core.analysis.checkpointing.steps import backward_steps, checkpoint_layout
from core.analysis.checkpointing.sweeps import best_k, depth_sweep, fit_slopes, k_sweep, reference_slopes
from core.nn.activations import ACTIVATIONS
from core.nn.checkpoint import checkpoint_interval, segments
from core.nn.gradcheck import norm_rel_error, numerical_gradient
from core.nn.mlp import MLP
from core.nn.torch_mlp import TorchMLP
from core.nn.weights import BUFFERS

# (hidden layers, k): k = 1, k ≥ L, L not a multiple of k, "sqrt", a net without hidden layers
CASES = [(3, 1), (4, 2), (5, 3), (4, 5), (2, 50), (7, "sqrt"), (0, 1)]
BAD_K = [0, -2, 1.5, "3", "cube", True]


def net(depth, activation="elu", batch_norm=False, width=5, seed=0):
    rng = np.random.default_rng(seed)
    mlp = MLP(4, [width] * depth, 3, activation, rng=rng, batch_norm=batch_norm)
    return mlp, rng.standard_normal((6, 4)), rng.integers(0, 3, 6)


def step(mlp, x, y, k):
    """Loss, gradients (copies) and every parameter and buffer after one step with ``checkpoint_every=k``."""
    loss, _ = mlp.loss_and_backward(x, y, checkpoint_every=k)
    return loss, {n: g.copy() for n, g in mlp.get_grads().items()}, mlp.get_weights()


@pytest.mark.parametrize("batch_norm", [False, True], ids=["plain", "batchnorm"])
@pytest.mark.parametrize("depth, k", CASES)
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_numpy_checkpointed_step_equals_the_plain_one(activation, depth, k, batch_norm):
    mlp, x, y = net(depth, activation, batch_norm)
    start = mlp.get_weights()
    loss, grads, after = step(mlp, x, y, None)
    mlp.set_weights(start)
    loss_k, grads_k, after_k = step(mlp, x, y, k)
    assert loss_k == pytest.approx(loss, rel=1e-12, abs=0)
    assert grads_k.keys() == grads.keys()
    for name in grads:
        np.testing.assert_allclose(grads_k[name], grads[name], rtol=1e-12, atol=0, err_msg=name)
    for name in after:  # running estimates updated once, as by the plain step (twice would move them further)
        np.testing.assert_allclose(after_k[name], after[name], rtol=1e-12, atol=0, err_msg=name)
    if batch_norm and depth:
        assert not np.allclose(after["running_mean1"], start["running_mean1"])  # the step did update them


@pytest.mark.parametrize("batch_norm", [False, True], ids=["plain", "batchnorm"])
def test_checkpointed_gradients_match_finite_differences(batch_norm):
    mlp, x, y = net(3, "tanh", batch_norm, width=4)
    mlp.loss_and_backward(x, y, checkpoint_every=2)
    grads = {n: g.copy() for n, g in mlp.get_grads().items()}
    for name, module, key in mlp.named_parameters():
        numeric = numerical_gradient(lambda: mlp.loss_and_backward(x, y, checkpoint_every=2)[0], module.params[key])
        assert norm_rel_error(grads[name], numeric) < 1e-8, name


@pytest.mark.parametrize("batch_norm", [False, True], ids=["plain", "batchnorm"])
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_checkpointed_numpy_gradients_match_torch_autograd(activation, batch_norm):
    mlp, x, y = net(5, activation, batch_norm)
    model = torch_twin(mlp)
    loss, grads, after = step(mlp, x, y, 2)
    torch_loss = F.cross_entropy(model(torch.as_tensor(x)), torch.as_tensor(y))
    torch_loss.backward()
    assert torch_loss.item() == pytest.approx(loss, rel=1e-12)
    torch_grads, torch_after = model.numpy_grads(), model.numpy_weights()
    for ours, theirs in ((grads, torch_grads), (after, torch_after)):
        for name in ours:  # + 1e-15: with identity, β's gradient and the next running mean are round-off of 0
            assert np.linalg.norm(ours[name] - theirs[name]) < 1e-12 * np.linalg.norm(ours[name]) + 1e-15, name


def torch_twin(mlp):
    """A TorchMLP with the architecture, weights and buffers of ``mlp``."""
    model = TorchMLP(
        mlp.widths[0], mlp.widths[1:-1], mlp.widths[-1], mlp.activation, device="cpu", batch_norm=mlp.batch_norm
    )
    return model.load_numpy_weights(mlp.get_weights())


def torch_step(model, x, y, k):
    model.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(torch.as_tensor(x), checkpoint_every=k), torch.as_tensor(y))
    loss.backward()
    counts = [int(bn.num_batches_tracked) for bn in model.norms]
    return loss.item(), model.numpy_grads(), model.numpy_weights(), counts


@pytest.mark.parametrize("batch_norm", [False, True], ids=["plain", "batchnorm"])
@pytest.mark.parametrize("depth, k", CASES)
@pytest.mark.parametrize("activation", ["elu", "relu", "tanh", "sigmoid"])
def test_torch_checkpointed_step_equals_the_plain_one(activation, depth, k, batch_norm):
    mlp, x, y = net(depth, activation, batch_norm)
    loss, grads, after, counts = torch_step(torch_twin(mlp), x, y, None)
    loss_k, grads_k, after_k, counts_k = torch_step(torch_twin(mlp), x, y, k)
    assert loss_k == pytest.approx(loss, rel=1e-12, abs=0)
    for name in grads:
        np.testing.assert_allclose(grads_k[name], grads[name], rtol=1e-12, atol=0, err_msg=name)
    for name in after:
        np.testing.assert_allclose(after_k[name], after[name], rtol=1e-12, atol=0, err_msg=name)
    assert counts_k == counts == [1] * depth * batch_norm  # the recomputation does not count the batch again


def test_no_cached_activation_survives_a_checkpointed_step():
    mlp, x, y = net(6, "elu", batch_norm=True)
    mlp.loss_and_backward(x, y)  # a plain step first: the checkpointed one must clear what it left
    assert mlp.zs and mlp.deltas
    mlp.loss_and_backward(x, y, checkpoint_every=3)
    assert (mlp.zs, mlp.bn_outs, mlp.activations, mlp.deltas, mlp.bn_deltas) == ([], [], [], [], [])
    for module in [*mlp.layers, *mlp.norms, *mlp.nonlinearities, mlp.softmax]:
        cached = [n for n, v in vars(module).items() if isinstance(v, np.ndarray) and n not in BUFFERS]
        assert cached == [], f"{type(module).__name__} keeps {cached}"


@pytest.mark.parametrize("k", BAD_K)
def test_a_bad_k_is_refused_in_both_backends(k):
    mlp, x, y = net(3)
    with pytest.raises(ValueError, match="checkpoint_every must be"):
        mlp.loss_and_backward(x, y, checkpoint_every=k)
    model = TorchMLP(4, [5] * 3, 3, device="cpu")
    with pytest.raises(ValueError, match="checkpoint_every must be"):
        model(torch.as_tensor(x), checkpoint_every=k)
    with torch.no_grad(), pytest.raises(ValueError, match="checkpoint_every must be"):
        model(torch.as_tensor(x), checkpoint_every=k)
    with pytest.raises(MeasurementError, match="checkpoint_every must be"):
        measure_step(4, 8, 4, k)


# ---- the measurement ----


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_checkpointing_at_depth_64_needs_at_most_half_the_memory(backend):
    plain = measure_step(64, 32, 16, None, backend, reps=0)
    sqrt = measure_step(64, 32, 16, "sqrt", backend, reps=0)
    assert sqrt.k == 9 and plain.k is None
    assert sqrt.peak_bytes <= 0.5 * plain.peak_bytes
    assert sqrt.loss == pytest.approx(plain.loss, rel=1e-12)


def test_numpy_peak_counts_activations_not_the_replaced_gradients():
    # width 64, batch 8: one activation is 4 kB, one weight gradient 32 kB. Gradients left by the step
    # before are replaced, not added: counted, the 65 of them alone would make 2 MB.
    cost = measure_step(64, 64, 8, "sqrt", "numpy", reps=0)
    arrays = 8 + 3 * 9  # 8 checkpoints, then a 9-layer segment of input, z and f(z)
    assert arrays * 4096 < cost.peak_bytes < arrays * 4096 + 4 * 32768


def test_the_first_measurement_in_a_process_counts_only_the_step():
    """What the first checkpointed step of a fresh process allocates for good (the MLP imports its checkpointed
    backward lazily) is not part of that step's peak: the first measurement equals the next one."""
    script = (
        "from core.analysis.checkpointing.memory import measure_step; "
        "print(*(measure_step(8, 32, 16, 'sqrt', reps=0).peak_bytes for _ in range(2)))"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    first, second = map(int, out.stdout.split())
    assert abs(first - second) < 1_000, (first, second)


def test_torch_peak_counts_saved_activations_not_weights():
    # width 64, batch 8: an activation is 4 kB, a weight 32 kB. Plain autograd saves per hidden layer the
    # Linear's input and the ELU's input (its output is the next Linear's input, counted once), plus x.
    arrays = measure_step(64, 64, 8, None, "torch", reps=0).peak_bytes / 4096
    assert 2 * 64 + 1 <= arrays < 2 * 64 + 2


def test_saved_bytes_are_released_once_the_backward_has_used_them():
    model = TorchMLP(16, [16] * 6, 10, device="cpu")
    x, y = torch.randn(8, 16, dtype=torch.float64), torch.arange(8) % 10
    meter = SavedBytes(model)
    with meter:
        loss = F.cross_entropy(model(x, checkpoint_every=3), y)
        assert meter.total == meter.peak == 3 * 16 * 8 * 8 + 8 * 10 * 8 + 8 * 8 + 8  # 3 checkpoints, the loss's
        loss.backward()
    assert meter.total == 0 and meter.alive == {}


def test_torch_counts_the_recomputed_segment():
    # One segment (k ≥ L): everything is recomputed in the backward, so the peak is the plain one's.
    plain = measure_step(16, 32, 16, None, "torch", reps=0)
    whole = measure_step(16, 32, 16, 100, "torch", reps=0)
    assert whole.peak_bytes == pytest.approx(plain.peak_bytes, rel=0.05)
    model = TorchMLP(4, [5], 3, device="cpu")
    assert "_recompute_context" not in vars(model)


@pytest.mark.parametrize(
    "sizes, message",
    [
        ((257, 8, 8), "depth must be"),
        ((4, 1025, 8), "width must be"),
        ((4, 8, 1), "batch must be"),
        ((256, 1024, 1024), "activations without checkpointing"),
        ((4.5, 8, 8), "depth must be"),
    ],
)
def test_sizes_are_refused_before_anything_is_built(monkeypatch, sizes, message):
    def no_build(*args, **kwargs):
        raise AssertionError("built a network")

    monkeypatch.setattr("core.analysis.checkpointing.memory.MLP", no_build)
    for call in (
        lambda: measure_step(*sizes),
        lambda: depth_sweep([4, sizes[0]], *sizes[1:]),
        lambda: k_sweep(*sizes),
        lambda: check_sizes(*sizes),
    ):
        with pytest.raises(MeasurementError, match=message) as e:
            call()
        assert "\n" not in str(e.value)
    with pytest.raises(MeasurementError, match="backends must be"):
        depth_sweep([4], 8, 8, backends=("numpy", "jax"))


def test_depth_sweep_is_tidy_and_reports_progress():
    calls = []
    sweep = depth_sweep(
        [4, 8], 16, 8, (None, "sqrt", 2), ("numpy", "torch"), reps=1, progress=lambda d, t: calls.append((d, t))
    )
    assert len(sweep) == 12 and set(sweep.variant) == {"plain backprop", "k = ⌈√(n+1)⌉", "k = 2"}
    assert sweep.loc[sweep.variant == "k = ⌈√(n+1)⌉", "k"].tolist() == [3, 3, 3, 3]
    assert sweep.loc[sweep.variant == "k = 2", "checkpoints"].tolist() == [3, 5, 3, 5]
    assert sweep["k"].isna().sum() == 4 and (sweep.seconds > 0).all()
    assert calls == [(i, 16) for i in range(1, 17)]  # 2 backends × 2 depths × (3 memory + 1 timing round)


def test_memory_slopes_are_about_n_and_sqrt_n():
    sweep = depth_sweep([8, 16, 32, 64], 32, 16, (None, "sqrt"), ("numpy", "torch"), reps=0)
    slopes = fit_slopes(sweep, ["peak_bytes"]).set_index(["backend", "variant"])["slope"]
    for backend in ("numpy", "torch"):
        assert 0.85 < slopes[backend, "plain backprop"] < 1.05
        assert slopes[backend, "k = ⌈√(n+1)⌉"] < 0.6


def test_fit_slopes_and_reference_lines_recover_known_powers():
    depths = np.array([4, 16, 64])
    frame = pd.DataFrame(
        {
            "backend": "numpy",
            "variant": ["plain backprop"] * 3 + ["k = ⌈√(n+1)⌉"] * 3,
            "depth": [*depths, *depths],
            "peak_bytes": [*(3.0 * depths), *(5.0 * np.sqrt(depths))],
            "seconds": 1.0,
        }
    )
    fit = fit_slopes(frame).set_index(["variant", "quantity"])
    assert fit.loc[("plain backprop", "peak_bytes"), "slope"] == pytest.approx(1.0)
    assert fit.loc[("plain backprop", "peak_bytes"), "prefactor"] == pytest.approx(3.0)
    assert fit.loc[("k = ⌈√(n+1)⌉", "peak_bytes"), "slope"] == pytest.approx(0.5)
    assert fit.loc[("k = ⌈√(n+1)⌉", "seconds"), "slope"] == pytest.approx(0.0, abs=1e-12)
    refs = reference_slopes(frame, "peak_bytes").set_index(["reference", "depth"])["value"]
    assert refs["∝ n", 64] == pytest.approx(3.0 * 64) and refs["∝ √n", 64] == pytest.approx(5.0 * 8)


def test_memory_against_k_is_u_shaped():
    ks = k_sweep(48, 32, 16, reps=0)
    assert ks["k"].isna().iloc[0] and ks["k"].iloc[1] == 1 and ks["k"].iloc[-1] == 49
    best = best_k(ks)
    curve = ks.dropna(subset=["k"]).set_index("k")["peak_bytes"]
    assert 2 <= best <= 10 and curve[best] < curve[1] / 2 and curve[best] < curve[49] / 3
    assert curve.max() < ks.peak_bytes.iloc[0]  # even the ends of the U are below plain backprop (it keeps δ too)


@pytest.mark.parametrize("depth, k", [(8, 3), (5, 2), (4, 9), (9, 1), (15, "sqrt")])
def test_layout_and_step_through_follow_the_segments(depth, k):
    L = depth + 1
    segs = segments(L, checkpoint_interval(k, L))
    layout = checkpoint_layout(depth, k)
    assert layout.loc[layout.role == "checkpoint: kept", "layer"].tolist() == [s + 1 for s, _ in segs]
    steps = backward_steps(depth, k)
    assert steps.step.nunique() == L + 1  # after the forward, then one step per layer's backward
    first = steps[steps.step == 0]
    assert first.loc[first.state == "checkpoint", "layer"].tolist() == [s + 1 for s, _ in segs]
    assert (first.state != "cached").all()
    # While layer l is backpropagated: its segment's layers up to l, and the checkpoints of the segments before.
    for i, (s, e) in enumerate(segs):
        for l in range(s, e):
            now = steps[steps.action.str.endswith(f"backprop layer {l + 1}")]
            assert now.loc[now.state == "cached", "layer"].tolist() == list(range(s + 1, l + 2))
            assert now.loc[now.state == "checkpoint", "layer"].tolist() == [a + 1 for a, _ in segs[:i]]
    assert steps.in_memory.max() == max(i + e - s for i, (s, e) in enumerate(segs))


def test_the_step_through_names_what_each_step_recomputes():
    actions = backward_steps(8, 4).groupby("step")["action"].first()
    assert actions[0] == "after the forward: only the checkpoints"
    assert actions[1] == "recompute layer 9 from a⁸, then backprop layer 9"  # a segment of one layer
    assert actions[2] == "recompute layers 5–8 from a⁴, then backprop layer 8"
    assert actions[3] == "backprop layer 7" and actions[6] == "recompute layers 1–4 from x, then backprop layer 4"
