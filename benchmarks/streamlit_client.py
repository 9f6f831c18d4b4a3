"""A minimal Streamlit client that speaks the app's own websocket protocol, for load and fault tests.

A browser talks to a Streamlit server through one websocket, ``/_stcore/stream``. It sends
``BackMsg`` protobufs: ``rerun_script`` carries a ``ClientState`` (the query string, the page
by script hash or url path, and ``WidgetStates``; a button click is a ``trigger_value``). It
receives ``ForwardMsg`` protobufs: ``new_session`` when a script run starts, a ``delta`` for
every element drawn (at ``metadata.delta_path``), ``page_info_changed`` when the script rewrites
the query string, ``navigation`` with the app's pages, ``auto_rerun`` for a fragment that reruns
on a timer, and ``script_finished`` when the run ends. This client does the same from asyncio,
so one process drives dozens of sessions at almost no CPU: what is measured is the server.

    async with Session("http://127.0.0.1:8501") as s:
        run = await s.open("playground", "dataset=digits")  # a ScriptRun: seconds, status, errors
        await s.click("step_epoch")                          # the button whose key is step_epoch
        s.metric("Epoch")                                    # "1 / 100"
        await s.switch_page("backward")
    s.errors                                                 # exceptions the app showed, if any

A script run is not what a student waits for. A click on "Step 1 epoch" whose epoch outlasts the
click's time budget returns at once; the epoch goes on in slices, one per rerun of a fragment on a
timer (``st.fragment(run_every=…)``), and the last slice reruns the whole page (``st.rerun()``) to
show the result. The ``timed_…`` requests measure the wait, from sending the request until the page
has settled: the request's run finished, and after it every fragment timer stopped and every rerun
the app started by itself finished; and, given ``until`` (a test of the page), until the page shows
what the student waits for (a timer run sent just before the timer stopped can still come after the
last rerun and draw it). They return a ``Wait``:

    async with Session("http://127.0.0.1:8501") as s:
        await s.timed_open("playground", "dataset=digits")   # Wait("open", 0.41 s, 1 run)
        shown = lambda s: s.metric("Epoch").startswith("1 /")
        await s.timed_click("step_epoch", until=shown)       # Wait("click step_epoch", 3.2 s, 9 runs)
        await s.timed_value("show_test", bool_value=True)    # a control changed
        await s.timed_switch_page("backward")

Like the browser, a session first loads the page over HTTP (keeping its cookies, which a
sticky reverse proxy needs) and sends only what it changed: widgets it does not mention keep
their values on the server. Only 127.0.0.1 is accepted; every wait is bounded by ``timeout``.
"""

import asyncio
import time
import urllib.request
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

STREAM = "_stcore/stream"
HEALTH = "_stcore/health"
FINISHED = {
    ForwardMsg.FINISHED_SUCCESSFULLY: "ok",
    ForwardMsg.FINISHED_WITH_COMPILE_ERROR: "compile error",
    ForwardMsg.FINISHED_EARLY_FOR_RERUN: "interrupted",
    ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY: "ok",
}


class ClientError(ValueError):
    """A request this client cannot make: an address other than 127.0.0.1, an unknown widget or page."""


class ServerError(RuntimeError):
    """The server did not answer in time, closed the connection, or sent what the protocol does not allow."""


@dataclass
class ScriptRun:
    """One script run, as the client saw it."""

    kind: str  # what asked for it: "open", "click step_epoch", "page backward", "rerun", "auto"
    seconds: float  # from sending the request to its script_finished (a fragment's timer run: from its start)
    status: str = "ok"  # "ok", "compile error" or "interrupted" (a newer rerun replaced it)
    errors: list = field(default_factory=list)  # exceptions the app showed during this run


@dataclass
class Wait:
    """What a student waited for: from sending a request until the page settled with its result on it."""

    kind: str  # what was asked: "open", "click step_epoch", "page backward", "set show_test"
    seconds: float  # request sent (for "open": the page's HTTP load) → the run after which the page stood still
    runs: int  # script runs finished meanwhile: the request's, its fragment's timer runs, the app's own reruns
    errors: list = field(default_factory=list)  # exceptions the app showed and protocol failures meanwhile


def check_address(url):
    """(scheme, "127.0.0.1:port") of ``url``, or raise ClientError: this client only talks to this machine."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.hostname != "127.0.0.1" or not parts.port:
        raise ClientError(f"expected an address like http://127.0.0.1:8501, got {url!r}")
    return parts.scheme, f"127.0.0.1:{parts.port}"


def health(url, timeout=5.0):
    """True when the server's ``/_stcore/health`` answers ``ok`` within ``timeout`` seconds."""
    scheme, netloc = check_address(url)
    try:
        with urllib.request.urlopen(f"{scheme}://{netloc}/{HEALTH}", timeout=timeout) as r:
            return r.read() == b"ok"
    except OSError:
        return False


def _holds(test, session):
    """``test(session)``, False where the page lacks what it looks for (ClientError: no such widget or metric)."""
    try:
        return bool(test(session))
    except ClientError:
        return False


def _user_key(element):
    """The user key of a keyed widget (its id is ``$$ID-<hash>-<user key>``), or None."""
    kind = element.WhichOneof("type")
    wid = getattr(getattr(element, kind), "id", "") if kind else ""
    parts = wid.split("-", 2) if isinstance(wid, str) else []
    return parts[2] if len(parts) == 3 and parts[0] == "$$ID" else None


class Session:
    """One browser tab: a websocket session of the Streamlit app at ``url``.

    Args:
        url: the server, ``http://127.0.0.1:PORT`` (a reverse proxy on 127.0.0.1 works the same).
        timeout: seconds any single wait may take (connecting, one script run) before ServerError.
        follow_auto_rerun: rerun fragments on their timer as the browser does (``st.fragment(run_every=…)``).
    """

    def __init__(self, url, timeout=60.0, follow_auto_rerun=True):
        self.scheme, self.netloc = check_address(url)
        self.timeout, self.follow_auto_rerun = timeout, follow_auto_rerun
        self.runs = []  # every finished ScriptRun, in order
        self.errors = []  # every exception shown and every protocol failure, as one-line texts
        self.cookies = {}
        self.session_id = None
        self._ws = self._reader = None
        self._reset_page_state()

    def _reset_page_state(self):
        self.path, self.query = "", ""  # the page's url path and the query string the script last set
        self.page_hash = ""  # script hash of the page shown
        self.pages = {}  # url path → page script hash, from the navigation message
        self.elements = {}  # delta path → Element of what the page shows now
        self._run_id = None  # script_run_id of the full run in progress
        self._run_elements = {}  # elements drawn by the run in progress
        self._run_errors = []
        self._pending = None  # (kind, time sent, future) of the last request; the future holds its ScriptRun
        self._started_since = set()  # ids of the full runs that started after that request was sent
        self._started = asyncio.Event()  # set when the first of them starts
        self._fragment_started = {}  # script_run_id → time its new_session arrived
        self._fragment_run = False  # whether the run in progress is a fragment's
        self._auto = {}  # fragment id → task rerunning it on a timer
        self._full_running = False  # a full run (of a request, or of the app's own st.rerun) is in progress
        self._still = asyncio.Event()  # set while no full run is in progress and no fragment timer is on
        self._still_at = (0.0, 0)  # (time, runs finished) when the page last came to stand still
        self._finished_runs = 0  # script_finished messages of this connection, fragments' included
        self._sent_at = (0, 0)  # (runs finished, errors) when the last request was sent
        self._ran = asyncio.Event()  # set when a script run (of any kind) finishes
        self._last_run = (0.0, 0)  # (time, runs finished) when the last script run finished

    # ---- connecting ------------------------------------------------------------------------

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()

    async def open(self, path="", query=""):
        """Open the page at url ``path`` ("" for the default page) with ``query`` ("dataset=digits"),
        as a browser tab does; returns the first ScriptRun."""
        await self._connect(path, query)
        return await self.wait()

    async def timed_open(self, path="", query="", until=None):
        """Open the page as ``open`` does; returns the Wait from the page's HTTP load until the page settled
        (see ``waited`` for ``until``)."""
        t0 = time.perf_counter()
        await self._connect(path, query)
        return await self.waited(since=t0, until=until)

    async def _connect(self, path, query):
        """Load the page over HTTP, connect the websocket and send the first rerun request."""
        await self.close()
        self._reset_page_state()
        self.path, self.query = path.strip("/"), query.lstrip("?")
        page_url = f"{self.scheme}://{self.netloc}/{self.path}" + (f"?{self.query}" if self.query else "")
        self.cookies.update(await asyncio.wait_for(asyncio.to_thread(self._get_cookies, page_url), self.timeout))
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}
        ws_scheme = "wss" if self.scheme == "https" else "ws"
        try:
            self._ws = await connect(
                f"{ws_scheme}://{self.netloc}/{STREAM}",
                subprotocols=["streamlit"],
                additional_headers=headers,
                origin=f"{self.scheme}://{self.netloc}",
                max_size=None,  # the server bounds its own messages (server.maxMessageSize)
                ping_interval=None,  # a browser only answers pings; it sends none
                open_timeout=self.timeout,
            )
        except (OSError, TimeoutError, InvalidHandshake) as e:
            raise ServerError(f"cannot open {ws_scheme}://{self.netloc}/{STREAM}: {e}") from e
        self._reader = asyncio.create_task(self._read())
        await self._send("open", ClientState(query_string=self.query, page_name=self.path))

    def _get_cookies(self, page_url):
        """Load the page over HTTP like a browser and return the cookies it sets (name → value)."""
        try:
            with urllib.request.urlopen(page_url, timeout=self.timeout) as r:
                r.read()
                headers = r.headers.get_all("Set-Cookie") or []
        except OSError as e:
            raise ServerError(f"cannot load {page_url}: {e}") from e
        return dict(h.split(";", 1)[0].strip().split("=", 1) for h in headers if "=" in h.split(";", 1)[0])

    async def close(self):
        """Close the websocket (the server keeps the session for a while, then drops it)."""
        for task in self._auto.values():
            task.cancel()
        self._auto.clear()
        if self._ws is not None:
            await self._ws.close()
            self._ws = None
        if self._reader is not None:
            await asyncio.wait([self._reader], timeout=self.timeout)
            self._reader = None

    async def reload(self):
        """What the browser's reload button does: a new connection, hence a new session, at the same address."""
        return await self.open(self.path, self.query)

    # ---- requests --------------------------------------------------------------------------

    def widget(self, key):
        """The widget proto (``Button``, ``Slider``, …) with user key ``key`` on the page shown, or raise
        ClientError. Its ``id`` is what a ``WidgetState`` names."""
        for element in self.elements.values():
            if _user_key(element) == key:
                return getattr(element, element.WhichOneof("type"))
        raise ClientError(f"no widget with key {key!r} on the page {self.path or '(default)'}")

    async def send_click(self, key):
        """Send a click on the button with user key ``key`` without waiting for its run (``wait()`` does)."""
        button = self.widget(key)
        if getattr(button, "disabled", False):
            raise ClientError(f"the button {key!r} is disabled")
        state = self._state()
        state.widget_states.widgets.append(WidgetState(id=button.id, trigger_value=True))
        await self._send(f"click {key}", state)

    async def send_value(self, key, **value):
        """Send a new value of the widget with user key ``key`` without waiting for its run (``wait()`` does):
        ``string_value="…"`` for a text input or a select box (the option as the page shows it),
        ``double_value=…``, ``int_value=…``, ``bool_value=…`` for the others."""
        state = self._state()
        state.widget_states.widgets.append(WidgetState(id=self.widget(key).id, **value))
        await self._send(f"set {key}", state)

    async def click(self, key):
        """Click the button with user key ``key``; returns its ScriptRun."""
        await self.send_click(key)
        return await self.wait()

    async def timed_click(self, key, until=None):
        """Click the button with user key ``key``; returns the Wait until the page settled (an epoch trained in
        slices: until the last slice and the page's rerun that shows it; see ``waited`` for ``until``)."""
        await self.send_click(key)
        return await self.waited(until=until)

    async def timed_value(self, key, until=None, **value):
        """Set the widget with user key ``key`` as ``send_value`` does; returns the Wait until the page settled."""
        await self.send_value(key, **value)
        return await self.waited(until=until)

    async def settle(self):
        """Wait for the last request's run, then until the page stops rerunning by itself (a fragment on a
        timer, e.g. an epoch finished in slices, and the full rerun that ends it); returns the last ScriptRun."""
        result = await self.wait()
        await self._wait_still()
        return self.runs[-1] if self.runs else result

    async def waited(self, since=None, until=None):
        """``settle`` for the last request; returns its Wait, timed from ``since`` (a ``time.perf_counter()``)
        or from sending the request, until the last run before the page stood still finished. With ``until``, a
        test of this session (``lambda s: s.metric("Epoch") == "1 / 100"``), the wait goes on run by run until
        the test holds, or raises ServerError after ``timeout``: the page stood still without the result."""
        await self.wait()
        await self._wait_still()
        kind, sent, _ = self._pending
        end, runs = self._still_at
        deadline = time.perf_counter() + self.timeout
        while until is not None and not _holds(until, self):
            self._ran.clear()
            try:
                await asyncio.wait_for(self._ran.wait(), deadline - time.perf_counter())
            except TimeoutError:
                message = f"the page did not show the result of '{kind}' within {self.timeout:g} s of standing still"
                self.errors.append(message)
                raise ServerError(message) from None
            if self._reader is None or self._reader.done():
                raise ServerError(f"the connection closed while waiting for the result of '{kind}'")
            end, runs = self._last_run
        runs_before, errors_before = self._sent_at
        start = sent if since is None else since
        return Wait(kind, end - start, runs - runs_before, self.errors[errors_before:])

    async def _wait_still(self):
        try:
            await asyncio.wait_for(self._still.wait(), self.timeout)
        except TimeoutError:
            message = f"the page still reran by itself {self.timeout:g} s after '{self._pending[0]}'"
        else:
            if not (self._full_running or self._auto):
                return
            message = f"the connection closed while the page reran by itself after '{self._pending[0]}'"
        self.errors.append(message)
        raise ServerError(message)

    async def rerun(self):
        """Rerun the page with nothing changed (as when a student touches a control); returns the ScriptRun."""
        await self._send("rerun", self._state())
        return await self.wait()

    async def switch_page(self, url_path):
        """Go to the page at ``url_path`` ("backward") as the sidebar link does; returns the ScriptRun."""
        await self._send_page(url_path)
        return await self.wait()

    async def timed_switch_page(self, url_path):
        """Go to the page at ``url_path`` as ``switch_page`` does; returns the Wait until the page settled."""
        await self._send_page(url_path)
        return await self.waited()

    async def _send_page(self, url_path):
        url_path = url_path.strip("/")
        if url_path not in self.pages:
            raise ClientError(f"no page at /{url_path}; the app has /{', /'.join(self.pages)}")
        state = self._state()
        state.page_script_hash = self.pages[url_path]
        state.query_string = ""  # the browser drops the query string on a page change
        self.path, self.query = url_path, ""
        await self._send(f"page {url_path}", state)

    def alerts(self):
        """The texts of the errors, warnings, notices and successes (``st.error`` …) on the page shown."""
        return [e.alert.body for e in self.elements.values() if e.WhichOneof("type") == "alert"]

    def metrics(self):
        """{label: value} of every ``st.metric`` on the page shown."""
        return {e.metric.label: e.metric.body for e in self.elements.values() if e.WhichOneof("type") == "metric"}

    def metric(self, label):
        """The value shown by the ``st.metric`` labelled ``label`` (or by the only one whose label starts with it:
        "Epoch" finds "Epochs done"), or raise ClientError."""
        shown = self.metrics()
        found = [label] if label in shown else [k for k in shown if k.startswith(label)]
        if len(found) != 1:
            raise ClientError(
                f"no single metric labelled {label!r} on the page {self.path or '(default)'}: {list(shown)}"
            )
        return shown[found[0]]

    def _state(self):
        """A ClientState for a rerun of the page shown, as the browser fills it."""
        state = ClientState(query_string=self.query, page_script_hash=self.page_hash)
        state.context_info.timezone = "UTC"
        state.context_info.timezone_offset = 0
        state.context_info.locale = "en-US"
        state.context_info.url = f"{self.scheme}://{self.netloc}/{self.path}" + (f"?{self.query}" if self.query else "")
        state.context_info.is_embedded = False
        return state

    async def _send(self, kind, state, fragment_id=None):
        if self._ws is None:
            raise ServerError("the session is closed: open a page first")
        if fragment_id:
            state.fragment_id, state.is_auto_rerun = fragment_id, True
        else:
            future = asyncio.get_running_loop().create_future()
            future.add_done_callback(lambda f: f.cancelled() or f.exception())  # read, even if nobody waits
            self._pending, self._started_since = (kind, time.perf_counter(), future), set()
            self._sent_at = (self._finished_runs, len(self.errors))
            self._started.clear()
            self._still.clear()
        try:
            await self._ws.send(BackMsg(rerun_script=state).SerializeToString())
        except ConnectionClosed as e:
            raise ServerError(f"the server closed the connection: {e}") from e

    async def wait_started(self):
        """Wait until the last request's run has started (its callbacks run next, then the page)."""
        if self._pending is None:
            raise ClientError("no request sent: open a page first")
        try:
            await asyncio.wait_for(self._started.wait(), self.timeout)
        except TimeoutError:
            raise ServerError(f"no run started within {self.timeout:g} s after '{self._pending[0]}'") from None

    @property
    def running(self):
        """True while the last request's run has not finished."""
        return self._pending is not None and not self._pending[2].done()

    async def wait(self):
        """Wait for the last request's run to finish (a run interrupted by a newer request waits on for that
        one); returns its ScriptRun. Exceptions the app showed are in ``ScriptRun.errors`` and ``self.errors``."""
        if self._pending is None:
            raise ClientError("no request sent: open a page first")
        future = self._pending[2]
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.timeout)
        except TimeoutError:
            message = f"no script_finished within {self.timeout:g} s after '{self._pending[0]}'"
            self.errors.append(message)
            raise ServerError(message) from None

    # ---- receiving -------------------------------------------------------------------------

    async def _read(self):
        try:
            async for data in self._ws:
                if not isinstance(data, bytes):
                    raise ServerError("the server sent a text frame; the protocol is binary protobufs")
                msg = ForwardMsg()
                msg.ParseFromString(data)
                self._handle(msg)
        except ConnectionClosed:
            pass
        except Exception as e:  # a broken reader must not leave a waiter hanging
            self.errors.append(f"{type(e).__name__}: {e}")
        finally:
            if self.running:
                self._pending[2].set_exception(ServerError(f"the connection closed during '{self._pending[0]}'"))
            self._still.set()  # wakes a waiter; _wait_still tells a closed connection from a page standing still
            self._ran.set()

    def _handle(self, msg):
        kind, run = msg.WhichOneof("type"), msg.metadata.run
        if kind == "new_session":
            self.session_id = msg.new_session.initialize.session_id or self.session_id
            self._fragment_run = bool(run.fragment_ids)  # deltas carry no run id: they belong to this run
            if run.fragment_ids:
                self._fragment_started[run.script_run_id] = time.perf_counter()
            else:  # a full run draws the page anew
                self._full_running = True
                self._still.clear()
                self._run_id, self._run_elements, self._run_errors = run.script_run_id, {}, []
                self._started_since.add(run.script_run_id)
                self._started.set()
                for task in self._auto.values():  # the browser clears fragment timers on a full run
                    task.cancel()
                self._auto.clear()
        elif kind == "delta":
            self._delta(msg)
        elif kind == "page_info_changed":
            self.query = msg.page_info_changed.query_string
        elif kind == "navigation":  # st.navigation names the pages and the one this run shows
            self.pages = {p.url_pathname: p.page_script_hash for p in msg.navigation.app_pages}
            self.page_hash = msg.navigation.page_script_hash
        elif kind == "page_not_found":
            self._error(f"page not found: {msg.page_not_found.page_name!r}")
        elif kind == "ref_hash":
            self._error("the server sent a cached-message reference this client never asked for")
        elif kind == "auto_rerun" and self.follow_auto_rerun:
            fid, interval = msg.auto_rerun.fragment_id, msg.auto_rerun.interval
            if fid and fid not in self._auto:
                self._auto[fid] = asyncio.get_running_loop().create_task(self._auto_rerun(fid, interval))
                self._still.clear()
        elif kind == "stop_auto_rerun":
            for fid in msg.stop_auto_rerun.fragment_ids:
                task = self._auto.pop(fid, None)
                if task:
                    task.cancel()
            self._check_still()
        elif kind == "script_finished":
            self._finished(FINISHED[msg.script_finished], run)

    def _delta(self, msg):
        if msg.delta.WhichOneof("type") != "new_element":
            return
        path, element = tuple(msg.metadata.delta_path), msg.delta.new_element
        if self._fragment_run:  # a fragment redraws its part of the page in place
            self.elements[path] = element
        else:
            self._run_elements[path] = element
        if element.WhichOneof("type") == "exception":
            e = element.exception
            self._error(f"{e.type}: {e.message.strip().splitlines()[0]}" if e.message.strip() else e.type)

    def _error(self, text):
        self._run_errors.append(text)
        self.errors.append(text)

    def _finished(self, status, run):
        """A run ended. A full run that a newer request (or ``st.rerun``) replaced answers nobody: the run
        that replaces it will. Fragment runs are timed from their start, as they are not answers to a click."""
        self._finished_runs += 1
        self._last_run = (time.perf_counter(), self._finished_runs)
        self._ran.set()
        if run.fragment_ids:
            started = self._fragment_started.pop(run.script_run_id, None)
            if started is not None:
                self.runs.append(ScriptRun("auto", time.perf_counter() - started, status, []))
            return
        if run.script_run_id == self._run_id:
            self._full_running = False
            if status != "interrupted":
                self.elements = self._run_elements
            self._check_still()
        if not self.running or status == "interrupted" or run.script_run_id not in self._started_since:
            return
        kind, sent, future = self._pending
        result = ScriptRun(kind, time.perf_counter() - sent, status, list(self._run_errors))
        self.runs.append(result)
        future.set_result(result)

    def _check_still(self):
        """After a full run ended or fragment timers stopped: the page stands still when neither is left. (A
        fragment's run ending never makes it still: its timer is on until a full run or stop_auto_rerun.)"""
        if not self._full_running and not self._auto:
            self._still_at = (time.perf_counter(), self._finished_runs)
            self._still.set()

    async def _auto_rerun(self, fragment_id, interval):
        """Send a rerun of the fragment every ``interval`` seconds, as the browser's timer does."""
        while self._ws is not None:
            await asyncio.sleep(interval)
            state = self._state()
            try:
                await self._send("auto", state, fragment_id=fragment_id)
            except ServerError:
                return
