"""Which store keeps the rooms: ``open_store(url)``, from the ``MLP_LAB_ROOMS`` setting by default.

``MLP_LAB_ROOMS`` (environment variable):
- ``sqlite:///rooms.sqlite3`` (relative) or ``sqlite:////var/lib/mlp-lab/rooms.sqlite3`` (absolute,
  four slashes): one file, for the app processes of one machine;
- ``redis://host:6379/0`` (``rediss://`` with TLS, ``redis://:password@host:6379/0``): one Redis, for
  app processes on several machines;
- ``off``: no rooms;
- unset: SQLite in ``$XDG_STATE_HOME/mlp-backprop-lab/rooms.sqlite3`` (``~/.local/state/…``),
  outside the repository.
"""

import os
import time
from pathlib import Path

from core.rooms.errors import StoreUnavailable
from core.rooms.sqlite_store import SqliteStore
from core.rooms.store import ROOM_TTL_S

SETTING = "MLP_LAB_ROOMS"


def default_file():
    state = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(state) / "mlp-backprop-lab" / "rooms.sqlite3"


def open_store(url=None, *, ttl_s=ROOM_TTL_S, clock=time.time):
    """The rooms' store at ``url`` (None: the setting) → a ``RoomStore``, or ``StoreUnavailable`` saying
    why: the app then goes on without rooms."""
    url = (os.environ.get(SETTING, "").strip() or f"sqlite:///{default_file()}") if url is None else url
    scheme = url.partition("://")[0]
    if url == "off":
        raise StoreUnavailable(f"rooms are switched off ({SETTING}=off)")
    if scheme == "sqlite" and url[len("sqlite:///") :] not in ("", ":memory:"):
        return SqliteStore(url[len("sqlite:///") :], ttl_s=ttl_s, clock=clock)
    if scheme in ("redis", "rediss"):
        from core.rooms.redis_store import RedisStore  # here: a machine with SQLite rooms need not load redis

        return RedisStore(url, ttl_s=ttl_s, clock=clock)
    raise StoreUnavailable(f"{SETTING} is sqlite:///path/to/file, redis://host:port/db or off, not {scheme[:20]!r}")
