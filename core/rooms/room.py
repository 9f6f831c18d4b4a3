"""What a room shows: ``Room`` (where the lecture is; every student may see it) and ``Tally`` (the
class's answers to one question, counted, never who gave them)."""

import json
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Room:
    """The lecturer's room as its students follow it. ``version`` grows by one at each lecturer action,
    so a client that polls compares one integer."""

    code: str
    step: int = 0  # index of the lecture's step the lecturer is on
    lecture: str = ""  # the lecture's id, so that students load the same one ("" until the lecturer sets it)
    question: str | None = None  # id of the open question, None before the first
    kind: str = "text"  # what it takes: "text", "number" or "choice"
    choices: tuple[str, ...] = ()  # the allowed answers of a "choice" question
    revealed: bool = False  # answers closed and shown to everyone
    version: int = 0


@dataclass(frozen=True)
class Record:
    """A room as a store keeps it: the room, its key's SHA-256 and the time of the lecturer's last action."""

    room: Room
    key_digest: str
    touched: float


@dataclass(frozen=True)
class Tally:
    """The answers to one question, counted: ``counts[answer] = n``, with ``total = sum(counts.values())``.

    Order: a choice question's choices in their order (0 for none chosen), numbers ascending, texts
    most frequent first. Numbers are floats; a histogram takes ``counts`` as weights."""

    question: str
    counts: dict = field(default_factory=dict)
    total: int = 0

    @classmethod
    def of(cls, question, stored, choices=()):
        """From ``stored``: {JSON text of an answer: count}, as the store keeps them."""
        counts = dict.fromkeys(choices, 0) | {json.loads(text): n for text, n in stored.items()}
        if choices:
            order = [*choices, *(a for a in counts if a not in choices)]
        elif all(isinstance(a, float) for a in counts):
            order = sorted(counts)
        else:
            order = sorted(counts, key=lambda a: (-counts[a], str(a)))
        return cls(question, {a: counts[a] for a in order}, sum(counts.values()))

    def frame(self):
        """Long form, one row per answer: columns ``answer``, ``count``."""
        import pandas as pd  # here: a worker that only answers need not load pandas

        return pd.DataFrame({"answer": list(self.counts), "count": list(self.counts.values())})
