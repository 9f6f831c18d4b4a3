"""Rooms in one SQLite file (the standard library's ``sqlite3``): the app processes of one machine share
it, and it outlives them.

WAL mode lets readers (students polling ``current``) go on while one writer commits; every
read-modify-write is one ``BEGIN IMMEDIATE`` transaction, so writers queue (``busy_timeout`` 5 s)
instead of overwriting each other. Each thread has its own connection. Rows of expired rooms (their
answers with them, ``ON DELETE CASCADE``) and of past rate-limit windows are deleted at each new room.
"""

import json
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from core.rooms.errors import StoreUnavailable
from core.rooms.room import Record, Room
from core.rooms.store import RoomStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS rooms (
    id INTEGER PRIMARY KEY,  -- a new id for each room: answers never pass to a later room with the same code
    code TEXT NOT NULL UNIQUE,
    key_digest TEXT NOT NULL,
    touched REAL NOT NULL,
    step INTEGER NOT NULL DEFAULT 0,
    lecture TEXT NOT NULL DEFAULT '',
    question TEXT,
    kind TEXT NOT NULL DEFAULT 'text',
    choices TEXT NOT NULL DEFAULT '[]',
    revealed INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS rooms_touched ON rooms (touched);
CREATE TABLE IF NOT EXISTS answers (
    room INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    question TEXT NOT NULL,
    voter TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (room, question, voter)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS limits (bucket TEXT PRIMARY KEY, until REAL NOT NULL, count INTEGER NOT NULL) WITHOUT ROWID;
"""
ROOM = "id, key_digest, touched, step, lecture, question, kind, choices, revealed, version"


class SqliteStore(RoomStore):
    def __init__(self, path, **kwargs):
        super().__init__(**kwargs)
        self.path = Path(path)
        self._local = threading.local()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db().executescript(SCHEMA)
        except (OSError, sqlite3.DatabaseError) as e:
            raise self._unavailable(e) from e
        with self._transaction():  # a file that can be read but not written fails here, not at the first answer
            pass

    def _unavailable(self, why):
        return StoreUnavailable(
            f"the rooms file {self.path} cannot be used ({why}): make it writable, or set MLP_LAB_ROOMS "
            "to another sqlite:/// file or to a redis:// address"
        )

    def _db(self):
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)  # transactions: BEGIN … COMMIT
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")  # WAL: a crash of the app loses nothing committed
            db.execute("PRAGMA foreign_keys = ON")
            self._local.db = db
        return db

    @contextmanager
    def _transaction(self, begin="BEGIN IMMEDIATE"):
        try:
            db = self._db()
            db.execute(begin)
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except sqlite3.DatabaseError as e:
            raise self._unavailable(e) from e

    def close(self):
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    def _read(self, db, code):
        """(row id, Record) of the room ``code``, or (None, None)."""
        row = db.execute(f"SELECT {ROOM} FROM rooms WHERE code = ?", (code,)).fetchone()
        if row is None:
            return None, None
        id_, digest, touched, step, lecture, question, kind, choices, revealed, version = row
        room = Room(code, step, lecture, question, kind, tuple(json.loads(choices)), bool(revealed), version)
        return id_, Record(room, digest, touched)

    def _insert(self, code, key_digest, now):
        with self._transaction() as db:
            db.execute("DELETE FROM rooms WHERE touched < ?", (now - self.ttl_s,))
            db.execute("DELETE FROM limits WHERE until < ?", (now,))
            added = db.execute(
                "INSERT INTO rooms (code, key_digest, touched) VALUES (?, ?, ?) ON CONFLICT (code) DO NOTHING",
                (code, key_digest, now),
            )
            return added.rowcount == 1

    def _load(self, code):
        with self._transaction("BEGIN") as db:
            return self._read(db, code)[1]

    def _change(self, code, check, changes, now):
        with self._transaction() as db:
            id_, record = self._read(db, code)
            check(record)
            room = replace(record.room, **changes, version=record.room.version + 1)
            db.execute(
                "UPDATE rooms SET touched = ?, step = ?, lecture = ?, question = ?, kind = ?, choices = ?, "
                "revealed = ?, version = ? WHERE id = ?",
                (
                    now,
                    room.step,
                    room.lecture,
                    room.question,
                    room.kind,
                    json.dumps(room.choices),
                    room.revealed,
                    room.version,
                    id_,
                ),
            )
            return room

    def _put_answer(self, code, question, voter, encode):
        with self._transaction() as db:
            id_, record = self._read(db, code)
            value = encode(record)
            db.execute(
                "INSERT INTO answers VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET value = excluded.value",
                (id_, question, voter, value),
            )

    def _counts(self, code, question):
        with self._transaction("BEGIN") as db:
            rows = db.execute(
                "SELECT value, COUNT(*) FROM answers JOIN rooms ON answers.room = rooms.id "
                "WHERE rooms.code = ? AND answers.question = ? GROUP BY value",
                (code, question),
            )
            return dict(rows.fetchall())

    def _counter(self, bucket, window_s, add):
        window = int(self.clock() // window_s)
        with self._transaction() as db:
            (count,) = db.execute(
                "INSERT INTO limits VALUES (?, ?, ?) ON CONFLICT (bucket) DO UPDATE SET count = count + excluded.count "
                "RETURNING count",
                (f"{bucket}@{window}", (window + 1) * window_s, add),
            ).fetchone()
            return count
