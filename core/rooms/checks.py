"""What a room accepts: its code, its key, ids, steps, choices and answers, checked before any query.

Codes are 6 characters from an alphabet without look-alikes (no 0/O, 1/I/L): 31⁶ ≈ 8.9·10⁸ codes,
typed case-insensitively. Keys are ``secrets.token_urlsafe(24)`` (192 bits); a store keeps only
their SHA-256 and compares digests in constant time (``hmac.compare_digest``).

An answer is text (at most ``MAX_TEXT`` printable characters, NFC, trimmed) or a finite number
(int or float, not bool). It is stored as its JSON text, so equal answers are equal strings:
``"\\"ReLU\\""``, ``"0.5"`` (numbers as floats, −0 as 0).
"""

import hashlib
import hmac
import json
import math
import numbers
import re
import secrets
import unicodedata

from core.rooms.errors import RoomError

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0 O 1 I L
CODE_LENGTH = 6
KINDS = ("text", "number", "choice")
MAX_TEXT = 40  # characters of a text answer or a choice
MAX_CHOICES = 12
MAX_STEP = 10_000

_CODE = re.compile(f"[{ALPHABET}]{{{CODE_LENGTH}}}")
_ID = re.compile(r"[a-z0-9_.-]{1,40}")  # question ids, lecture ids
_OPAQUE = re.compile(r"[A-Za-z0-9_-]{8,64}")  # voters (a session), clients (a session or an address's hash)
_KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")


def new_code():
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def new_key():
    return secrets.token_urlsafe(24)


def key_digest(key):
    """SHA-256 of the key (hex); a key of the wrong form gets a digest no room has."""
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        return ""
    return hashlib.sha256(key.encode()).hexdigest()


def same_key(digest, key):
    """Whether ``key`` opens the room whose key has ``digest``, in time independent of where they differ."""
    given = key_digest(key)
    return bool(given) and hmac.compare_digest(digest, given)


def valid_code(code):
    """``code`` upper-cased, spaces and hyphens dropped ("abc-def" → "ABCDEF"), or RoomError."""
    if isinstance(code, str) and len(code) <= 2 * CODE_LENGTH:
        code = code.strip().upper().replace(" ", "").replace("-", "")
        if _CODE.fullmatch(code):
            return code
    raise RoomError("unknown or expired room")


def valid_id(value, what="question id"):
    if isinstance(value, str) and _ID.fullmatch(value):
        return value
    raise RoomError(f"invalid {what}: 1 to 40 of a-z 0-9 _ . -")


def valid_opaque(value, what="voter"):
    if isinstance(value, str) and _OPAQUE.fullmatch(value):
        return value
    raise RoomError(f"invalid {what}: 8 to 64 of A-Z a-z 0-9 _ -")


def valid_step(step):
    if isinstance(step, numbers.Integral) and not isinstance(step, bool) and 0 <= step < MAX_STEP:
        return int(step)
    raise RoomError(f"invalid step: an integer from 0 to {MAX_STEP - 1}")


def valid_text(value):
    """Trimmed NFC text of 1 to ``MAX_TEXT`` printable characters (``str.isprintable``: no control,
    format or line-separator characters; the space is allowed), or RoomError."""
    if not isinstance(value, str) or len(value) > 4 * MAX_TEXT:
        raise RoomError(f"an invalid answer: text of at most {MAX_TEXT} characters")
    text = unicodedata.normalize("NFC", str(value)).strip()
    if not 0 < len(text) <= MAX_TEXT or not text.isprintable():
        raise RoomError(f"an invalid answer: 1 to {MAX_TEXT} printable characters")
    return text


def valid_number(value):
    """A finite int or float as a float (−0 → 0), or RoomError; bool, str, NaN and ±inf are refused."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        try:
            x = float(value)
        except (OverflowError, ValueError, TypeError):
            x = math.nan
        if math.isfinite(x):
            return x + 0.0
    raise RoomError("an invalid answer: a finite number")


def valid_choices(choices):
    """A tuple of 1 to ``MAX_CHOICES`` distinct texts, or RoomError."""
    if not isinstance(choices, list | tuple) or not 0 < len(choices) <= MAX_CHOICES:
        raise RoomError(f"invalid choices: 1 to {MAX_CHOICES} texts")
    texts = tuple(valid_text(c) for c in choices)
    if len(set(texts)) != len(texts):
        raise RoomError("invalid choices: each one once")
    return texts


def encode_answer(value, kind, choices=()):
    """The stored form of an answer to a question of ``kind`` (JSON text), or RoomError."""
    if kind == "number":
        return json.dumps(valid_number(value))
    text = valid_text(value)
    if kind == "choice" and text not in choices:
        raise RoomError("an invalid answer: not one of the choices")
    return json.dumps(text)
