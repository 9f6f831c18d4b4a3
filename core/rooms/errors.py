"""The two ways a room refuses: ``RoomError`` (this request may not be done) and ``StoreUnavailable``
(the store cannot be reached at all: the app goes on without rooms)."""


class RoomError(ValueError):
    """A refusal in one line: unknown or expired room, wrong key, no open question, an invalid answer, …"""


class StoreUnavailable(RoomError):
    """The store cannot be opened or reached; the message says what to set or start."""
