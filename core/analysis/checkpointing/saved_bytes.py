"""The bytes autograd saves for backward during a PyTorch training step, counted as they come and go.

``SavedBytes`` wraps a training step in ``torch.autograd.graph.saved_tensors_hooks``: the Checkpointing
view's PyTorch memory figure (``core.analysis.checkpointing.memory``). torch is imported when a meter starts.
"""

import contextlib


class SavedBytes:
    """Running total and peak of the bytes saved for backward, as a ``with`` block around a training step.

    Inside the block every tensor autograd saves passes the pack hook: its storage is counted once
    (a reference count per storage address, so an output saved again as the next layer's input is not
    counted twice; parameters' storages not at all) and handed back wrapped; when autograd frees the
    wrapper (after the backward has used it) the count drops. ``total`` is the bytes alive now,
    ``peak`` the most at any moment.

    With checkpointing, autograd saves only each segment's input in the forward (the tensors inside a
    segment go to ``torch.utils.checkpoint``'s own hooks, which take precedence). In the backward each
    segment is recomputed under the checkpoint's recomputation hooks; ``recomputing`` wraps that
    recomputation (TorchMLP's recompute context) and counts the storages it saves on top of what is
    alive, then delegates to the checkpoint's hooks. Those tensors live until the segment's backward
    has used them, and the backward saves nothing new, so the peak of that segment is reached when its
    recomputation ends: ``peak ≥ total + recomputed``. The next recomputation starts when the previous
    segment is done (autograd runs the later segment first) and resets the count.
    """

    def __init__(self, model):
        self.skip = {p.untyped_storage().data_ptr() for p in model.parameters()}
        self.alive = {}  # storage address → [references, bytes]
        self.total = self.peak = 0
        self.recomputed = {}  # storage address → bytes, of the segment recomputed last

    def __enter__(self):
        import torch

        self._hooks = torch.autograd.graph.saved_tensors_hooks(self.pack, lambda saved: saved.tensor)
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc):
        self._hooks.__exit__(*exc)

    def pack(self, t):
        storage = t.untyped_storage()
        key = storage.data_ptr()
        if key in self.skip:
            return _Saved(t, None, key)
        entry = self.alive.setdefault(key, [0, storage.nbytes()])
        if entry[0] == 0:
            self.total += entry[1]
            self.peak = max(self.peak, self.total)
        entry[0] += 1
        return _Saved(t, self, key)

    def release(self, key):
        entry = self.alive[key]
        entry[0] -= 1
        if entry[0] == 0:
            self.total -= entry[1]
            del self.alive[key]

    @contextlib.contextmanager
    def recomputing(self, inner):
        """Count what a segment's recomputation saves (inside ``inner``, TorchMLP's recompute context)."""
        import torch

        # The hooks on top now are torch.utils.checkpoint's recomputation hooks: count, then hand on to them.
        pack, unpack = torch._C._autograd._top_saved_tensors_default_hooks(False)
        self.recomputed = {}

        def count(t):
            key = t.untyped_storage().data_ptr()
            if key not in self.skip and key not in self.alive:
                self.recomputed[key] = t.untyped_storage().nbytes()
            return pack(t)

        try:
            with inner, torch.autograd.graph.saved_tensors_hooks(count, unpack):
                yield
        finally:  # also when the checkpoint stops the recomputation early (all it needs is saved)
            self.peak = max(self.peak, self.total + sum(self.recomputed.values()))


class _Saved:
    """A saved tensor as autograd holds it while the meter runs; freeing it releases its bytes."""

    __slots__ = ("tensor", "meter", "key")

    def __init__(self, tensor, meter, key):
        self.tensor, self.meter, self.key = tensor, meter, key

    def __del__(self):
        if self.meter is not None:
            self.meter.release(self.key)


# ---- sweeps ----
