"""A classroom on one server: five students at once through Streamlit's own websocket protocol, and the
faults a class produces (a tab closed or reloaded during training, a double click on "Step 1 epoch").
Each fault must leave the server healthy and the next run correct: a fresh student trains one epoch
and sees the loss that ``core`` computes outside the app for the same configuration.

A real server on 127.0.0.1 (started here, shared by the module); no wall-clock assertion.
"""

import asyncio
import functools

import pytest

from app.settings import from_query
from benchmarks.load_test import percentiles, rss_mib, run_load
from benchmarks.streamlit_client import ClientError, Session, check_address, health
from core.data import load_dataset
from core.training.trainer import Trainer
from deploy.run_local import app_process

TIMEOUT = 90.0
LONG = "dataset=digits&depth=2&width=128&batch_size=8"  # one epoch: 158 steps, long enough to interrupt


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
    result = run_load(server, sessions=5, timeout=TIMEOUT)
    assert result.errors == []
    assert result.completed == 5
    assert sorted(k for k, _ in result.runs) == sorted(["open", "click step_epoch", "page backward"] * 5)


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


def test_measures():
    assert percentiles([3.0, 1.0, 2.0, 4.0]) == (2.0, 4.0, 4.0)
    assert rss_mib([__import__("os").getpid()]) > 10  # this test process, read from /proc
