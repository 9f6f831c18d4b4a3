"""A classroom on one server: five students at once through Streamlit's own websocket protocol, each
waiting until the result is on the page, and the faults a class produces (a tab closed or reloaded
during training, a double click on "Step 1 epoch"). Every student sees the numbers that ``core``
computes outside the app for the same configuration; each fault must leave the server healthy and
the next run correct.

A real server on 127.0.0.1 (started here, shared by the module); no wall-clock assertion.
"""

import asyncio
import functools

import pytest

from benchmarks.load_test import (
    PLAYGROUND_QUERY,
    WAIT_KINDS,
    cheap_rerun_probe,
    percentiles,
    rss_mib,
    run_load,
    table,
    verdicts,
)
from benchmarks.streamlit_client import ClientError, Session, check_address, health
from core.data import load_dataset
from core.links import from_query
from core.training.trainer import Trainer
from deploy.run_local import app_process

TIMEOUT = 90.0
LONG = "dataset=digits&depth=2&width=128&batch_size=8"  # one epoch: 158 steps, long enough to interrupt
# One epoch of 1,257 single-sample steps through three layers of 512: about 3 s of core alone, three times the
# click's own budget (app.live.CLICK_BUDGET_S), so the epoch goes on in slices of the live panel's timer.
SLICED = "dataset=digits&depth=3&width=512&batch_size=1&lr=0.01&epochs=2"


@pytest.fixture(scope="module")
def server():
    with app_process() as (url, _):
        yield url


@functools.cache
def expected(query, epochs):
    """(epoch counter, train loss) the Playground shows after ``epochs`` epochs of ``query``, computed by core."""
    config, _ = from_query(dict(p.split("=") for p in query.split("&")))
    name, n_samples, noise, seed = config.data_key()
    trainer = Trainer(load_dataset(name, n_samples=n_samples, noise=noise, seed=seed), config.train_config())
    for _ in range(epochs):
        for _ in trainer.run_epoch():
            pass
    return f"{epochs} / {config.epochs}", trainer.last_metrics()["train_loss"]


def shows(session, query, epochs):
    """Assert the Playground of ``session`` shows ``epochs`` epochs of ``query`` with core's loss and no error."""
    counter, loss = expected(query, epochs)
    assert session.metric("Epoch") == counter
    assert float(session.metric("Train loss")) == pytest.approx(loss, rel=1e-3)  # the page shows 4 digits
    assert not session.errors, session.errors


async def fresh_student_trains(url, query=LONG):
    """The next student after a fault: the server is healthy, a new session trains one correct epoch."""
    assert health(url)
    async with Session(url, timeout=TIMEOUT) as s:
        await s.open("playground", query)
        assert s.metric("Epoch").startswith("0 /")  # nothing of the earlier session shows here
        await s.click("step_epoch")
        await s.settle()  # a long epoch goes on in slices
        shows(s, query, 1)


def test_five_students_at_once(server):
    """Each student waits for the Playground, for the epoch shown, for the Backward pass, and sees core's loss."""
    result = run_load(server, sessions=5, timeout=TIMEOUT)
    assert result.errors == []
    assert result.completed == 5
    assert sorted(k for k, _, _ in result.waits) == sorted(WAIT_KINDS * 5)
    assert all(runs >= 1 for _, _, runs in result.waits)
    counter, loss = expected(PLAYGROUND_QUERY, 1)
    assert len(result.shown) == 5
    for shown in result.shown:
        assert [v for k, v in shown.items() if k.startswith("Epoch")] == [counter]
        assert float(shown["Train loss"]) == pytest.approx(loss, rel=1e-3)


def test_a_click_waits_until_its_epoch_is_shown(server):
    """The epoch outlasts the click's run: it goes on in the live panel's timer runs and ends with a rerun of the
    page. The wait covers them all: when it ends, the page shows the finished epoch with core's loss."""

    async def scenario():
        async with Session(server, timeout=TIMEOUT) as s:
            opened = await s.timed_open("playground", SLICED)
            assert (opened.kind, opened.runs, opened.errors) == ("open", 1, [])
            wait = await s.timed_click("step_epoch")
            shows(s, SLICED, 1)
            slices = sum(r.kind == "auto" for r in s.runs)
            assert slices >= 1, "the epoch fitted in the click's own run: SLICED no longer tests slices"
            assert wait.kind == "click step_epoch"
            assert wait.runs >= 1 + slices + 1  # the click's run, the timer's runs, the page's rerun
            assert wait.seconds >= s.runs[1].seconds  # the click's own run is only the start of the wait
            page = await s.timed_switch_page("backward")
            assert (page.kind, page.errors) == ("page backward", [])

    asyncio.run(scenario())


def test_session_closed_during_training(server):
    async def scenario():
        s = Session(server, timeout=TIMEOUT)
        await s.open("playground", LONG)
        await s.send_click("step_epoch")
        await s.wait_started()
        assert s.running  # the epoch is being trained when the tab closes
        await s.close()
        await fresh_student_trains(server)

    asyncio.run(scenario())


def test_page_reloaded_during_training(server):
    async def scenario():
        async with Session(server, timeout=TIMEOUT) as s:
            await s.open("playground", LONG)
            first = s.session_id
            await s.send_click("step_epoch")
            await s.wait_started()
            assert s.running
            await s.reload()  # a reload is a new session: the half-trained run stays behind
            assert s.session_id != first
            assert s.metric("Epoch").startswith("0 /")
            await s.click("step_epoch")
            await s.settle()
            shows(s, LONG, 1)
        await fresh_student_trains(server)

    asyncio.run(scenario())


def test_two_trainings_in_quick_succession(server):
    """A double click: the second click arrives while the first epoch trains; each click is one epoch, in order."""

    async def scenario():
        async with Session(server, timeout=TIMEOUT) as s:
            await s.open("playground", LONG)
            await s.send_click("step_epoch")
            await s.wait_started()
            await s.send_click("step_epoch")  # the button is still enabled while the first epoch trains
            await s.settle()
            shows(s, LONG, 2)
        await fresh_student_trains(server)

    asyncio.run(scenario())


def test_client_refuses_other_hosts_and_unknown_widgets(server):
    with pytest.raises(ClientError, match="127.0.0.1"):
        check_address("http://example.com:8501")

    async def scenario():
        async with Session(server, timeout=TIMEOUT) as s:
            await s.open("playground", "dataset=digits")
            with pytest.raises(ClientError, match="no widget with key 'launch'"):
                await s.send_click("launch")
            with pytest.raises(ClientError, match="no page at /nowhere"):
                await s.switch_page("nowhere")

    asyncio.run(scenario())


def test_a_costly_typed_surface_does_not_hold_the_server(server):
    """x+9^(9^9+x-x) once made the server compute 9**387420489 holding the interpreter lock: every session froze.
    SymPy now runs in a worker bounded in time: while the surface is being refused, the health check and another
    student's rerun answer within a second each (their timeouts), and the page then says the surface is too costly."""

    async def scenario():
        async with Session(server, timeout=TIMEOUT) as student, Session(server, timeout=TIMEOUT) as other:
            await other.open("playground")
            await student.open("saddle-points")
            await student.send_value("w_sad_surface", string_value="Type your own…")
            await student.wait()
            await student.send_value("w_sad_expr", string_value="x+9^(9^9+x-x)")
            await student.wait_started()
            other.timeout, answers = 1.0, []
            while student.running:
                answers.append(await asyncio.to_thread(health, server, 1.0))
                await other.rerun()  # raises ServerError when it takes more than a second
            await student.wait()
            assert len(answers) >= 2 and all(answers), answers
            assert any("too costly to compute" in text for text in student.alerts()), student.alerts()
            assert not student.errors and not other.errors

    asyncio.run(scenario())


def test_a_cheap_rerun_beside_training_students(server):
    """The probe's light student toggles "Show test points" while two others train; every wait is counted."""
    probe = cheap_rerun_probe(server, training=2, light=1, seconds=2.0, think_s=0.2, timeout=TIMEOUT)
    for phase in ("alone", "beside"):
        assert probe[phase]["errors"] == []
        assert probe[phase]["n"] >= 1
    assert probe["beside"]["students"] == 2 and probe["beside"]["training"][1] > 0


def test_measures():
    assert percentiles([3.0, 1.0, 2.0, 4.0]) == (2.0, 4.0, 4.0)
    assert rss_mib([__import__("os").getpid()]) > 10  # this test process, read from /proc


def test_before_and_after_side_by_side():
    labels = ("sessions completed", "errors", "every wait p95 (s)", "server CPU per session (s)")
    now, before = dict(zip(labels, ("20 / 20", 0, 2.5, 0.3))), dict(zip(labels, ("19 / 20", 1, 25.0, 1.2)))
    lines = table(now, before)
    assert lines[3].split() == ["every", "wait", "p95", "(s)", "25.00", "2.50", "×0.10"]
    assert verdicts(now, before) == [
        "met      every session completed, no error (20 / 20)",
        "met      p95 of every wait at most 3 s (2.50 s)",
        "met      server CPU per session at least halved (×0.25)",
    ]
    assert verdicts({**now, "errors": 2}, None)[0].startswith("NOT met")
