"""The lecturer's room: the state that a lecturer and the students of a lecture share, in a store
that every app process reaches (SQLite on one machine, Redis across machines). No Streamlit here.

``store = open_store()``; ``code, key = store.create_room()``; the lecturer moves the room with the
key (``set_step``, ``open_question``, ``reveal``), students follow it with the code (``join``,
``current``, ``answer``, ``tally``). Every refusal is a ``RoomError`` (a ``ValueError``) in one line;
``StoreUnavailable`` (a ``RoomError``) means no rooms at all. See ``core.rooms.store``.
"""

from core.rooms.connect import SETTING, open_store
from core.rooms.errors import RoomError, StoreUnavailable
from core.rooms.room import Room, Tally
from core.rooms.store import ROOM_TTL_S, RoomStore

__all__ = ["ROOM_TTL_S", "SETTING", "Room", "RoomError", "RoomStore", "StoreUnavailable", "Tally", "open_store"]
