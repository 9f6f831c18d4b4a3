"""Rooms in Redis, for app processes on several machines (the ``redis`` client from PyPI).

Keys, all under ``mlp-lab:`` so that the database can be shared:
``room:CODE`` a hash (the ``Room``'s fields, ``key_digest``, ``touched``, ``answers``: an id fresh for
each room, so that a code used again never shows an earlier room's answers);
``answers:CODE:ID:QUESTION`` a hash voter → stored answer (``HSET``: a second answer replaces the first);
``limit:BUCKET:WINDOW`` a counter (``INCRBY`` + ``EXPIRE``). Rooms and answers expire ``ttl_s`` after
the last write (``EXPIRE``), so Redis forgets them by itself.

A change reads the room under ``WATCH`` and writes it in ``MULTI``/``EXEC``: if the room changed in
between (a reveal while an answer was on its way), it is read and checked again. Sockets time out
after 1 s with one retry (a connection left from before a Redis restart); any Redis error becomes
``StoreUnavailable``.
"""

import json
import math
import secrets
from collections import Counter
from contextlib import contextmanager
from dataclasses import asdict, replace
from urllib.parse import urlsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from core.rooms.errors import StoreUnavailable
from core.rooms.room import Record, Room
from core.rooms.store import RoomStore

PREFIX = "mlp-lab:"
TIMEOUT_S = 1.0


def _fields(room):
    """The room as a Redis hash: strings, None as "", choices as JSON."""
    fields = asdict(room) | {"question": room.question or "", "choices": json.dumps(room.choices)}
    return {name: str(int(v) if isinstance(v, bool) else v) for name, v in fields.items() if name != "code"}


def _record(code, fields):
    if "key_digest" not in fields:
        return None
    room = Room(
        code,
        int(fields["step"]),
        fields["lecture"],
        fields["question"] or None,
        fields["kind"],
        tuple(json.loads(fields["choices"])),
        fields["revealed"] == "1",
        int(fields["version"]),
    )
    return Record(room, fields["key_digest"], float(fields["touched"]))


class RedisStore(RoomStore):
    def __init__(self, url, **kwargs):
        super().__init__(**kwargs)
        parts = urlsplit(url)
        self.where = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"  # without a password
        self.expire_s = max(1, math.ceil(self.ttl_s))
        try:
            self.r = redis.Redis.from_url(
                url,
                decode_responses=True,
                socket_timeout=TIMEOUT_S,
                socket_connect_timeout=TIMEOUT_S,
                retry=Retry(NoBackoff(), 1),
            )
        except ValueError as e:
            raise StoreUnavailable(f"invalid redis address {self.where}: {e}") from e
        with self._reached():
            self.r.ping()

    @contextmanager
    def _reached(self):
        try:
            yield
        except redis.exceptions.RedisError as e:
            raise StoreUnavailable(
                f"the rooms store {self.where} cannot be reached ({e}): start redis-server there, "
                "or set MLP_LAB_ROOMS to another address or to a sqlite:/// file"
            ) from e

    def close(self):
        self.r.close()

    def _room_key(self, code):
        return f"{PREFIX}room:{code}"

    def _answers_key(self, code, answers_id, question):
        return f"{PREFIX}answers:{code}:{answers_id}:{question}"

    def _insert(self, code, key_digest, now):
        key = self._room_key(code)

        def create(pipe):
            record = _record(code, pipe.hgetall(key))
            if record is not None and not self._expired(record.touched, now):
                return False
            fields = _fields(Room(code)) | {"key_digest": key_digest, "touched": repr(now)}
            pipe.multi()
            pipe.delete(key)
            pipe.hset(key, mapping=fields | {"answers": secrets.token_hex(8)})
            pipe.expire(key, self.expire_s)
            return True

        with self._reached():
            return self.r.transaction(create, key, value_from_callable=True)

    def _load(self, code):
        with self._reached():
            return _record(code, self.r.hgetall(self._room_key(code)))

    def _change(self, code, check, changes, now):
        key = self._room_key(code)

        def change(pipe):
            record = _record(code, pipe.hgetall(key))
            check(record)
            room = replace(record.room, **changes, version=record.room.version + 1)
            pipe.multi()
            pipe.hset(key, mapping=_fields(room) | {"touched": repr(now)})
            pipe.expire(key, self.expire_s)
            return room

        with self._reached():
            return self.r.transaction(change, key, value_from_callable=True)

    def _put_answer(self, code, question, voter, encode):
        key = self._room_key(code)

        def put(pipe):
            fields = pipe.hgetall(key)
            value = encode(_record(code, fields))
            answers = self._answers_key(code, fields["answers"], question)
            pipe.multi()
            pipe.hset(answers, voter, value)
            pipe.expire(answers, self.expire_s)

        with self._reached():
            self.r.transaction(put, key)

    def _counts(self, code, question):
        with self._reached():
            answers_id = self.r.hget(self._room_key(code), "answers")
            return dict(Counter(self.r.hvals(self._answers_key(code, answers_id, question)))) if answers_id else {}

    def _counter(self, bucket, window_s, add):
        window = int(self.clock() // window_s)
        key = f"{PREFIX}limit:{bucket}:{window}"
        with self._reached():
            with self.r.pipeline() as pipe:
                count, _ = pipe.incrby(key, add).expire(key, math.ceil(window_s) + 1).execute()
            return count
