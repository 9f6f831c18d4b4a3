"""The lecturer's room, whatever keeps it: who may do what. ``RoomStore`` checks every request here;
its back ends (``sqlite_store``, ``redis_store``) keep the records and make each change atomic.

A lecturer ``create_room()`` → ``(code, key)``: the code for the students, the key for themselves
only. The key moves the room (``set_step``, ``open_question``, ``reveal``); the code follows it
(``join``, ``current``), answers the open question once per voter (a second answer replaces the
first, until the reveal) and, after the reveal, reads the ``tally``. A room ends ``ttl_s`` after
the lecturer's last action. Rate limits (fixed windows, shared by every process of the store):
``JOIN_FAILURES`` failed joins per client and ``JOIN_FAILURES_ALL`` over all clients per minute
(guessing a code), ``ANSWERS`` answers per voter per 10 s.

Back end contract (each call one atomic step; ``check(record)`` raises RoomError to refuse):
``_insert(code, key_digest, now) -> bool`` (False: code taken by a live room),
``_load(code) -> Record | None``, ``_change(code, check, changes, now) -> Room`` (version + 1),
``_put_answer(code, question, voter, encode) -> None`` (``encode(record)`` gives the stored text),
``_counts(code, question) -> {stored text: n}``, ``_counter(bucket, window_s, add) -> int``, ``close()``.
"""

import time

from core.rooms.checks import (
    KINDS,
    encode_answer,
    key_digest,
    new_code,
    new_key,
    same_key,
    valid_choices,
    valid_code,
    valid_id,
    valid_opaque,
    valid_step,
)
from core.rooms.errors import RoomError, StoreUnavailable
from core.rooms.room import Tally

ROOM_TTL_S = 4 * 3600.0  # a room ends 4 h after the lecturer's last action
JOIN_FAILURES = (20, 60.0)  # failed joins per client per minute
JOIN_FAILURES_ALL = (1000, 60.0)  # failed joins per minute, all clients together
ANSWERS = (10, 10.0)  # answers per voter per 10 s


class RoomStore:
    """Who may do what in a room; a back end (``SqliteStore``, ``RedisStore``) keeps the records."""

    def __init__(self, ttl_s=ROOM_TTL_S, clock=time.time):
        self.ttl_s = float(ttl_s)
        self.clock = clock  # seconds; tests pass their own to age rooms and limits

    def _expired(self, touched, now):
        return now - touched > self.ttl_s

    # --- the lecturer (the key) ---

    def create_room(self):
        """A new room → ``(code, key)``: the code to show the class, the key to keep secret."""
        key = new_key()
        for _ in range(8):
            code = new_code()
            if self._insert(code, key_digest(key), self.clock()):
                return code, key
        raise RoomError("no free room code: try again")

    def set_step(self, code, key, step, lecture=None):
        """Move the room to the lecture's step ``step`` (and to lecture ``lecture``, an id) → ``Room``."""
        changes = {"step": valid_step(step)}
        if lecture is not None:
            changes["lecture"] = valid_id(lecture, "lecture id")
        return self._change(valid_code(code), self._lecturer(key), changes, self.clock())

    def open_question(self, code, key, question_id, choices=(), kind=None):
        """Open ``question_id`` for answers → ``Room``. With ``choices`` the answer is one of them; else
        ``kind`` is "text" (default) or "number". Earlier answers to the same id are kept."""
        kind = kind or ("choice" if choices else "text")
        if kind not in KINDS or (kind == "choice") != bool(choices):
            raise RoomError('invalid question: kind "text" or "number", or choices')
        changes = {"question": valid_id(question_id), "kind": kind, "revealed": False}
        changes["choices"] = valid_choices(choices) if choices else ()
        return self._change(valid_code(code), self._lecturer(key), changes, self.clock())

    def reveal(self, code, key, question_id):
        """Close the open question ``question_id`` and show its tally to everyone → ``Room``."""
        question_id = valid_id(question_id)

        def check(record):
            self._lecturer(key)(record)
            self._open(record, question_id, closed_ok=True)

        return self._change(valid_code(code), check, {"revealed": True}, self.clock())

    # --- the class (the code) ---

    def join(self, code, client):
        """The room for a code typed by ``client`` (a session id) → ``Room``; failed tries are limited."""
        client = valid_opaque(client, "client")
        (per_client, window), (per_all, _) = JOIN_FAILURES, JOIN_FAILURES_ALL
        if self._counter(f"join:{client}", window, 0) >= per_client or self._counter("join", window, 0) >= per_all:
            raise RoomError("too many tries: wait a minute")
        try:
            return self.current(code)
        except StoreUnavailable:
            raise
        except RoomError:
            self._counter(f"join:{client}", window, 1)
            self._counter("join", window, 1)
            raise

    def current(self, code):
        """The room as the lecturer left it → ``Room``, or RoomError "unknown or expired room"."""
        return self._alive(self._load(valid_code(code))).room

    def answer(self, code, question_id, voter, value):
        """``voter``'s answer to the open question: text or a finite number; it replaces their earlier one."""
        code, question_id, voter = valid_code(code), valid_id(question_id), valid_opaque(voter)
        limit, window = ANSWERS
        if self._counter(f"answer:{voter}", window, 1) > limit:
            raise RoomError("too many answers: wait a few seconds")

        def encode(record):
            room = self._open(record, question_id).room
            return encode_answer(value, room.kind, room.choices)

        self._put_answer(code, question_id, voter, encode)

    def answered(self, code, question_id):
        """How many voters have answered ``question_id`` → int."""
        self.current(code)
        return sum(self._counts(valid_code(code), valid_id(question_id)).values())

    def tally(self, code, question_id, key=None):
        """The answers to ``question_id``, counted → ``Tally``: for everyone once it is revealed, before
        that only with the lecturer's ``key``."""
        code, question_id = valid_code(code), valid_id(question_id)
        record = self._alive(self._load(code))
        room = record.room
        if key is not None:
            self._lecturer(key)(record)
        elif not (room.question == question_id and room.revealed):
            raise RoomError("the answers are shown at the reveal")
        choices = room.choices if room.question == question_id else ()
        return Tally.of(question_id, self._counts(code, question_id), choices)

    # --- checks run inside a back end's transaction ---

    def _alive(self, record):
        if record is None or self._expired(record.touched, self.clock()):
            raise RoomError("unknown or expired room")
        return record

    def _lecturer(self, key):
        def check(record):
            if not same_key(self._alive(record).key_digest, key):
                raise RoomError("wrong key")

        return check

    def _open(self, record, question_id, closed_ok=False):
        room = self._alive(record).room
        if room.question != question_id:
            raise RoomError(f"no open question {question_id!r}")
        if room.revealed and not closed_ok:
            raise RoomError("answers are closed: revealed")
        return record
