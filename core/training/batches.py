"""Mini-batches: the epoch's shuffled order the trainer walks, and a seeded draw for the views."""

from dataclasses import dataclass

import numpy as np


def epoch_order(rng, n):
    """A fresh permutation of the n training samples for one epoch (the trainer's batch order)."""
    return rng.permutation(n)


@dataclass(frozen=True)
class BatchDraw:
    """A reproducible mini-batch: which samples, and how its size relates to the one asked for."""

    indices: np.ndarray  # (B,) indices into the training set, no repeats
    asked: int  # the batch size asked for
    cap: int  # the most samples the caller accepts

    @property
    def size(self):
        return len(self.indices)

    def note(self, n_train):
        """Why the batch is smaller than asked, or "" when it is not."""
        if self.size == n_train and self.size < self.asked:
            return f"the whole training set: the batch size {self.asked} is larger"
        if self.size < self.asked:
            return f"of a batch size of {self.asked}: at most {self.cap} are used here"
        return ""


def draw_batch(n_train, batch_size, seed, draw=0, cap=None):
    """Draw #``draw`` of a seeded mini-batch of min(batch_size, cap, n_train) samples without repeats.

    The same (seed, draw) always gives the same samples, so a link reopens the same batch.
    """
    cap = batch_size if cap is None else cap
    B = min(int(batch_size), int(cap), int(n_train))
    idx = np.random.default_rng([int(seed), int(draw)]).choice(n_train, B, replace=False)
    return BatchDraw(idx, int(batch_size), int(cap))
