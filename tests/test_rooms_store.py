"""The lecturer's room store (core.rooms), the same tests against both back ends: SQLite in a temporary
file and Redis in a ``redis-server`` started for this module on a free port.

The Redis tests skip where ``redis-server`` is missing (``apt-get install -y redis-server``); they are
``ci_required``, so under ``CI=true`` that skip is a failure. A test clock ages rooms and rate limits.
"""

import math
import multiprocessing
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

import core.rooms.store
from core.rooms import ROOM_TTL_S, Room, RoomError, StoreUnavailable, open_store
from core.rooms.checks import ALPHABET
from core.rooms.store import ANSWERS, JOIN_FAILURES

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
VOTERS = [f"session-{i:04d}" for i in range(30)]


class Clock:
    def __init__(self):
        self.now = 1_700_000_000.0

    def __call__(self):
        return self.now


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(folder):
    """A redis-server on a free port of 127.0.0.1, without persistence → (process, url)."""
    if not Path(REDIS_SERVER).exists():
        pytest.skip(f"redis-server not found at {REDIS_SERVER}: apt-get install -y redis-server")
    port = free_port()
    args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(folder)]
    server = subprocess.Popen([REDIS_SERVER, *args], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    server.kill()
    pytest.fail("redis-server did not listen within 10 s")


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    server, url = start_redis(tmp_path_factory.mktemp("redis"))
    yield url
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.ci_required)])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/rooms.sqlite3"
    import redis

    url = request.getfixturevalue("redis_url")
    with redis.Redis.from_url(url) as r:
        r.flushdb()
    return url


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(url, clock):
    store = open_store(url, clock=clock)
    yield store
    store.close()


@pytest.fixture
def room(store):
    code, key = store.create_room()
    return code, key


def refused(words, call, *args, **kwargs):
    with pytest.raises(RoomError) as caught:
        call(*args, **kwargs)
    assert words in str(caught.value) and "\n" not in str(caught.value)
    return caught.value


def everything_stored(url):
    """Every byte the store keeps: the SQLite file and its log, or every Redis key and value."""
    if url.startswith("sqlite"):
        path = Path(url[len("sqlite:///") :])
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    import redis

    with redis.Redis.from_url(url) as r:
        hashes = [r.hgetall(k) for k in r.keys() if r.type(k) == b"hash"]
        return b"".join(r.keys()) + b"".join(k + v for fields in hashes for k, v in fields.items())


def test_students_follow_the_lecturer(store, url, clock, room):
    code, key = room
    other_process = open_store(url, clock=clock)
    first = store.join(code.lower()[:3] + "-" + code.lower()[3:], client="session-join")  # as typed
    assert (first.code, first.step, first.question, first.version) == (code, 0, None, 0)
    assert store.set_step(code, key, 4, lecture="intro-backprop").version == 1
    seen = other_process.current(code)
    assert (seen.step, seen.lecture, seen.version) == (4, "intro-backprop", 1)
    other_process.open_question(code, key, "sign-of-dw", choices=("+", "-", "0"))
    seen = store.current(code)
    assert seen == Room(code, 4, "intro-backprop", "sign-of-dw", "choice", ("+", "-", "0"), revealed=False, version=2)
    other_process.close()


def test_only_the_key_moves_the_room_and_only_its_hash_is_kept(store, url, room):
    code, key = room
    _, other_key = store.create_room()
    assert len(key) >= 22 and len(set(store.create_room()[1] for _ in range(5))) == 5  # ≥ 128 bits each
    store.set_step(code, key, 1)
    for wrong in (other_key, key[:-1] + ("A" if key[-1] != "A" else "B"), "", None, 42, "x" * 10_000):
        refused("wrong key", store.set_step, code, wrong, 2)
        refused("wrong key", store.open_question, code, wrong, "q1")
        if wrong is not None:  # no key: a student's tally
            refused("wrong key", store.tally, code, "q1", key=wrong)
    assert store.current(code).step == 1 and store.current(code).version == 1
    assert key.encode() not in everything_stored(url)


def test_keys_are_compared_in_constant_time(store, room, monkeypatch):
    import hmac

    calls = []
    compare = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: calls.append((a, b)) or compare(a, b))
    code, key = room
    store.set_step(code, key, 1)
    refused("wrong key", store.set_step, code, key.upper() + "x", 2)
    assert len(calls) == 2 and all(len(a) == len(b) == 64 for a, b in calls)  # SHA-256 digests, not keys


def test_codes_are_short_and_unambiguous(store):
    codes = [store.create_room()[0] for _ in range(50)]
    assert len(set(codes)) == 50
    assert all(len(c) == 6 and set(c) <= set(ALPHABET) for c in codes)
    assert not set("0O1IL") & set(ALPHABET)


def test_an_expired_room_is_refused(store, room, clock):
    code, key = room
    store.open_question(code, key, "q1")
    clock.now += ROOM_TTL_S - 60
    store.set_step(code, key, 1)  # the lecturer's action keeps it open another ROOM_TTL_S
    clock.now += ROOM_TTL_S - 60
    assert store.current(code).step == 1
    clock.now += 120
    refused("unknown or expired room", store.current, code)
    refused("unknown or expired room", store.join, code, client="session-late")
    refused("unknown or expired room", store.set_step, code, key, 2)
    refused("unknown or expired room", store.answer, code, "q1", VOTERS[0], "a")


def test_a_code_used_again_starts_a_new_room(store, clock, monkeypatch):
    monkeypatch.setattr(core.rooms.store, "new_code", lambda: "ABCDEF")
    code, old_key = store.create_room()
    store.open_question(code, old_key, "q1")
    store.answer(code, "q1", VOTERS[0], "old")
    refused("no free room code", store.create_room)  # the code of a live room is never given twice
    clock.now += ROOM_TTL_S + 1
    again, key = store.create_room()
    assert again == code and store.current(code).version == 0
    refused("wrong key", store.set_step, code, old_key, 1)
    store.open_question(code, key, "q1")
    assert store.answered(code, "q1") == 0 and store.tally(code, "q1", key=key).total == 0


def _answer_as(url, voters, go, done):
    """One app process: open the store, wait for the start, answer as each voter: "a" then "b" for every
    third voter (the second answer replaces the first), else "a"."""
    store = open_store(url)
    done.put("ready")
    code, question = go.get()
    try:
        for i, voter in voters:
            store.answer(code, question, voter, "a")
            if i % 3 == 0:
                store.answer(code, question, voter, "b")
    except RoomError as e:
        done.put(str(e))
    else:
        done.put(time.perf_counter())


@pytest.mark.parametrize("processes, voters", [(8, 100)])
def test_many_processes_answering_at_once_give_exact_tallies(url, processes, voters):
    store = open_store(url)  # the real clock, as the workers'
    code, key = store.create_room()
    store.open_question(code, key, "which-layer", choices=("a", "b"))
    ctx = multiprocessing.get_context("spawn")  # each a fresh interpreter, as app processes are
    go, done = ctx.Queue(), ctx.Queue()
    everyone = list(enumerate(f"voter-{i:05d}" for i in range(processes * voters)))
    workers = [ctx.Process(target=_answer_as, args=(url, everyone[p::processes], go, done)) for p in range(processes)]
    for w in workers:
        w.start()
    assert [done.get(timeout=60) for _ in workers] == ["ready"] * processes
    start = time.perf_counter()
    for _ in workers:
        go.put((code, "which-layer"))
    ends = [done.get(timeout=120) for _ in workers]
    assert all(isinstance(end, float) for end in ends), ends  # no refusal, no store error
    for w in workers:
        w.join(timeout=30)
        assert w.exitcode == 0
    n = processes * voters
    replaced = math.ceil(n / 3)
    assert store.answered(code, "which-layer") == n
    tally = store.tally(code, "which-layer", key=key)
    assert tally.counts == {"a": n - replaced, "b": replaced} and tally.total == n
    print(f"{n + replaced} answers from {processes} processes: {max(ends) - start:.2f} s ({url.split(':')[0]})")
    store.close()


def test_a_repeated_answer_replaces_the_earlier(store, room):
    code, key = room
    store.open_question(code, key, "q1", choices=("+", "-"))
    store.answer(code, "q1", VOTERS[0], "+")
    store.answer(code, "q1", VOTERS[1], "+")
    store.answer(code, "q1", VOTERS[0], "-")
    assert store.answered(code, "q1") == 2
    assert store.tally(code, "q1", key=key).counts == {"+": 1, "-": 1}


def test_answers_go_only_to_the_open_question_until_its_reveal(store, room):
    code, key = room
    refused("no open question", store.answer, code, "q1", VOTERS[0], "a")
    store.open_question(code, key, "q1")
    refused("no open question", store.answer, code, "q2", VOTERS[0], "a")
    refused("no open question", store.reveal, code, key, "q2")
    store.answer(code, "q1", VOTERS[0], "a")
    refused("wrong key", store.reveal, code, "W" * 32, "q1")
    store.reveal(code, key, "q1")
    refused("answers are closed", store.answer, code, "q1", VOTERS[0], "b")
    refused("answers are closed", store.answer, code, "q1", VOTERS[1], "b")
    assert store.tally(code, "q1").counts == {"a": 1}


def test_students_see_the_tally_at_the_reveal_and_never_who_answered(store, url, room):
    code, key = room
    store.open_question(code, key, "q1")
    store.answer(code, "q1", VOTERS[0], "ReLU ")
    store.answer(code, "q1", VOTERS[1], "ReLU")
    store.answer(code, "q1", VOTERS[2], "tanh")
    refused("shown at the reveal", store.tally, code, "q1")
    assert store.answered(code, "q1") == 3  # the lecturer sees how many, not what
    store.reveal(code, key, "q1")
    tally = store.tally(code, "q1")
    assert list(tally.counts.items()) == [("ReLU", 2), ("tanh", 1)] and tally.total == 3  # trimmed, most frequent first
    assert list(tally.frame().columns) == ["answer", "count"]
    assert not any(v in repr(tally) for v in VOTERS)
    store.open_question(code, key, "q2")
    refused("shown at the reveal", store.tally, code, "q1")  # an earlier question: only the lecturer


def test_numbers_are_counted_as_values(store, room):
    code, key = room
    store.open_question(code, key, "lr", kind="number")
    for voter, value in zip(VOTERS, [0.1, 1, 1.0, -0.0, 0, 1e-3, 10, 2.5]):
        store.answer(code, "lr", voter, value)
    ascending = [(0.0, 2), (1e-3, 1), (0.1, 1), (1.0, 2), (2.5, 1), (10.0, 1)]  # as numbers, not as text
    assert list(store.tally(code, "lr", key=key).counts.items()) == ascending
    refused("a finite number", store.answer, code, "lr", VOTERS[9], "0.5")


HOSTILE = [
    "x" * 1_000_000,
    "x" * 41,
    b"bytes",
    bytearray(b"a"),
    ["a"],
    {"a": 1},
    ("a",),
    {"a"},
    None,
    object(),
    math.nan,
    math.inf,
    -math.inf,
    True,
    False,
    10**400,
    "",
    "   ",
    "a\x00b",
    "a\nb",
    "\x1b[31m",
    "\u202eevil",
    "\ud800",
    "a\u2028b",
]


@pytest.mark.parametrize("kind", ["text", "number", "choice"])
def test_hostile_answers_are_refused(store, room, kind):
    code, key = room
    store.open_question(
        code, key, "q1", kind=None if kind == "choice" else kind, choices=("a",) if kind == "choice" else ()
    )
    for value in HOSTILE:
        refused("an invalid answer", store.answer, code, "q1", VOTERS[0], value)
        time_passes_for_the_rate_limit(store)
    assert store.answered(code, "q1") == 0


def time_passes_for_the_rate_limit(store):
    store.clock.now += ANSWERS[1]


@pytest.mark.parametrize(
    "call",
    [
        lambda s, c, k: s.current("'; DROP TABLE rooms; --"),
        lambda s, c, k: s.current(["ABCDEF"]),
        lambda s, c, k: s.current("A" * 10_000),
        lambda s, c, k: s.answer(c, "q1", "../../etc", "a"),
        lambda s, c, k: s.answer(c, "Q1 OR 1=1", VOTERS[0], "a"),
        lambda s, c, k: s.answer(c, "q1", None, "a"),
        lambda s, c, k: s.set_step(c, k, -1),
        lambda s, c, k: s.set_step(c, k, True),
        lambda s, c, k: s.set_step(c, k, 1.5),
        lambda s, c, k: s.set_step(c, k, 2, lecture="../x"),
        lambda s, c, k: s.open_question(c, k, "q2", choices=("a", "a")),
        lambda s, c, k: s.open_question(c, k, "q2", choices=("a\x00",)),
        lambda s, c, k: s.open_question(c, k, "q2", kind="sql"),
        lambda s, c, k: s.join(c, client="x"),
    ],
)
def test_hostile_codes_ids_and_steps_are_refused(store, room, call):
    code, key = room
    store.open_question(code, key, "q1")
    with pytest.raises(RoomError):
        call(store, code, key)
    assert store.current(code).version == 1 and store.answered(code, "q1") == 0


def test_answers_are_rate_limited_per_voter(store, room, clock):
    code, key = room
    store.open_question(code, key, "q1", kind="number")
    limit, window = ANSWERS
    for i in range(limit):
        store.answer(code, "q1", VOTERS[0], i)
    refused("too many answers", store.answer, code, "q1", VOTERS[0], 99)
    store.answer(code, "q1", VOTERS[1], 1)  # another student is not held back
    clock.now += window
    store.answer(code, "q1", VOTERS[0], 7)
    assert store.tally(code, "q1", key=key).counts == {1.0: 1, 7.0: 1}


def test_guessing_codes_is_rate_limited_per_client(store, room, clock):
    code, _ = room
    limit, window = JOIN_FAILURES
    wrong = "ZZZZZZ" if code != "ZZZZZZ" else "YYYYYY"
    for _ in range(limit):
        refused("unknown or expired room", store.join, wrong, client="session-guess")
    refused("too many tries", store.join, code, client="session-guess")  # even the right code, for a minute
    assert store.join(code, client="session-typed").code == code
    clock.now += window
    assert store.join(code, client="session-guess").code == code


def test_a_restart_keeps_the_room(store, url, room):
    code, key = room
    store.open_question(code, key, "q1", choices=("x", "y"))
    store.answer(code, "q1", VOTERS[0], "y")
    store.close()
    again = open_store(url, clock=store.clock)
    assert again.current(code).question == "q1"
    again.reveal(code, key, "q1")
    assert list(again.tally(code, "q1").counts.items()) == [("x", 0), ("y", 1)]  # every choice, in order
    again.close()


@pytest.mark.parametrize(
    "setting, words",
    [
        ("ftp://host/rooms", "not 'ftp'"),
        ("off", "switched off"),
        ("sqlite:///", "sqlite:///path"),
        ("sqlite:///{file}/rooms.sqlite3", "cannot be used"),
        ("redis://127.0.0.1:{closed}/0", "cannot be reached"),
        ("redis://:hunter2@127.0.0.1:{closed}/0", "cannot be reached"),
        ("redis://127.0.0.1:99999/0", "redis"),
    ],
)
def test_a_store_out_of_reach_says_so_at_once(tmp_path, monkeypatch, setting, words):
    (tmp_path / "file").write_text("a file where a folder should be")
    monkeypatch.setenv("MLP_LAB_ROOMS", setting.format(file=tmp_path / "file", closed=free_port()))
    start = time.perf_counter()
    with pytest.raises(StoreUnavailable) as caught:
        open_store()
    assert time.perf_counter() - start < 3.0
    message = str(caught.value)
    assert words in message and "\n" not in message and "hunter2" not in message


def test_the_default_store_is_a_file_outside_the_repository(tmp_path, monkeypatch):
    monkeypatch.delenv("MLP_LAB_ROOMS", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    code, _ = open_store().create_room()
    assert (tmp_path / "mlp-backprop-lab" / "rooms.sqlite3").exists()
    assert open_store(f"sqlite:///{tmp_path}/mlp-backprop-lab/rooms.sqlite3").current(code).code == code


@pytest.mark.ci_required
def test_redis_that_goes_away_gives_store_unavailable(tmp_path):
    server, url = start_redis(tmp_path)
    try:
        store = open_store(url)
        code, _ = store.create_room()
        server.terminate()
        server.wait(timeout=10)
        start = time.perf_counter()
        refused("cannot be reached", store.current, code)
        assert time.perf_counter() - start < 3.0
    finally:
        server.kill()
        server.wait(timeout=10)
