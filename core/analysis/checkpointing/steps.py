"""Which activations a checkpointed backward keeps, and the backward of a small net watched step by step."""

import numpy as np
import pandas as pd

from core.nn.checkpoint import checkpoint_interval, segments
from core.nn.mlp import MLP


def checkpoint_layout(depth, k):
    """Which layer inputs are kept as checkpoints and which are recomputed, for ``depth`` hidden layers.

    Returns one row per block: layer (1 … L), input (x, a¹, …: what enters it), segment (1 …),
    role ("checkpoint: kept" or "recomputed in backward").
    """
    L = depth + 1
    rows = []
    for s, (start, end) in enumerate(segments(L, checkpoint_interval(k, L)), start=1):
        for l in range(start, end):
            role = "checkpoint: kept" if l == start else "recomputed in backward"
            rows.append({"layer": l + 1, "input": _input_name(l), "segment": s, "role": role})
    return pd.DataFrame(rows)


def _input_name(l):
    return "x" if l == 0 else f"a{str(l).translate(str.maketrans('0123456789', '⁰¹²³⁴⁵⁶⁷⁸⁹'))}"


def backward_steps(depth, k, width=3, batch=4, seed=0):
    """A checkpointed backward of a small net, watched step by step as it runs.

    The real ``MLP.loss_and_backward(checkpoint_every=k)`` runs with its per-block forward and backward
    observed: before each block's backward, which layers hold cached activations (their modules'
    caches are set) is read off the modules; a layer's input is a checkpoint from the forward until its
    segment's recomputation starts. Step 0 is the state after the forward.

    Returns one row per step and layer: step, action, layer (1 … L), state ("checkpoint", "cached"
    or "not in memory"), in_memory (layers holding something at that step).
    """
    rng = np.random.default_rng(seed)
    mlp = MLP(width, [width] * depth, 2, "elu", rng=rng)
    x, y = rng.standard_normal((batch, width)), rng.integers(0, 2, batch)
    L = mlp.n_layers
    forward, backward = mlp.block_forward, mlp.block_backward
    events = []  # ("recompute", l) and ("backward", l, layers with caches)

    def watched_forward(l, a, update_stats=True):
        if not update_stats:  # only the recomputation leaves the running statistics alone
            events.append(("recompute", l))
        return forward(l, a, update_stats)

    def watched_backward(l, dout, need_dx=True):
        events.append(("backward", l, {j for j in range(L) if mlp.layers[j].x is not None}))
        return backward(l, dout, need_dx)

    mlp.block_forward, mlp.block_backward = watched_forward, watched_backward
    mlp.loss_and_backward(x, y, checkpoint_every=k)
    held = {e[1] for i, e in enumerate(events) if e[0] == "recompute" and (i == 0 or events[i - 1][0] != "recompute")}
    steps, note = [("after the forward: only the checkpoints", set(), set(held))], ""
    for i, event in enumerate(events):
        if event[0] == "recompute" and event[1] in held:  # a segment's recomputation starts from its checkpoint
            end = next(e[1] for e in events[i:] if e[0] == "backward") + 1
            held.discard(event[1])
            layers = f"layer {end}" if event[1] + 1 == end else f"layers {event[1] + 1}–{end}"
            note = f"recompute {layers} from {_input_name(event[1])}, then "
        elif event[0] == "backward":
            steps.append((f"{note}backprop layer {event[1] + 1}", event[2], set(held)))
            note = ""
    rows = []
    for step, (action, cached, checkpoints) in enumerate(steps):
        for j in range(L):
            state = "cached" if j in cached else "checkpoint" if j in checkpoints else "not in memory"
            rows.append(
                {"step": step, "action": action, "layer": j + 1, "state": state, "in_memory": len(cached | checkpoints)}
            )
    return pd.DataFrame(rows)
