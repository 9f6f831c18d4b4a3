"""How long students wait when a class uses one app server at once, through Streamlit's own protocol.

Each session does what a student does first: opens the Playground on the 8×8 digits
(``/playground?dataset=digits``), clicks "Step 1 epoch" (``step_epoch``) and opens the Backward pass
(``/backward``). What is timed is the *wait*, from the request until the page has settled with the
result on it (``Session.timed_click`` and its siblings in ``benchmarks/streamlit_client.py``): an
epoch that outlasts the click's time budget goes on in slices, one per rerun of the live panel on its
timer, and ends with a rerun of the page; the client follows that timer as a browser does, and the
click's wait ends when the epoch is shown. (A script run, request to ``script_finished``, is printed
too: it is what this benchmark timed before, and it hides the slices.) The clients are asyncio
websockets, so they cost the server's cores almost nothing (their CPU time is printed).

The report: sessions completed and errors; p50 / p95 / max of every wait and of each kind (open,
click, page change); the server's CPU seconds per session; its memory (RSS of its process tree, from
/proc) after a warm-up, at the peak and ``--settle`` seconds after the sessions closed, and with
``--waves 2`` what a second identical wave adds, as a share of the first wave's rise (a leak adds the
whole rise again, a high-water mark nothing); and a cheap rerun beside training students: a student
who only toggles "Show test points" on the moons Playground while ``--sessions`` students train
(click "Step 1 epoch" again as soon as the last epoch shows), p95 of that student's waits, and alone.

    python benchmarks/load_test.py                                # a server started here, 20 sessions
    python benchmarks/load_test.py --app-root /tmp/base --json /tmp/before.json   # another checkout
    python benchmarks/load_test.py --compare /tmp/before.json     # this checkout, side by side
    python benchmarks/load_test.py --sweep 2,4,8,12,16,20 --no-probe

Against a server started elsewhere, e.g. two processes behind nginx:

    python deploy/run_local.py --processes 2 --port 8080          # prints nginx's address and each pid
    python benchmarks/load_test.py --url http://127.0.0.1:8080 --pid 4321 --pid 4322 --sessions 50

``--url`` is the address the sessions connect to, as a browser would (nginx's, which spreads them
over the processes); ``--pid`` names each app process behind it, so that the benchmark can read their
CPU time and memory from /proc (it measures only processes it knows: without ``--pid`` it reports the
waits alone). The "before" figures of a change come from the same benchmark against the old code:
``git worktree add /tmp/base COMMIT``, then ``--app-root /tmp/base`` starts that checkout's app with
this checkout's Python environment. Nothing is written unless ``--json`` names a file.

Wall-clock figures are only as good as the machine is quiet: the load average before each wave is
printed with them; run twice and report both.
"""

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.streamlit_client import ClientError, ServerError, Session  # noqa: E402
from deploy.run_local import DeployError, app_command, free_port, stop, wait_healthy  # noqa: E402

MAX_SESSIONS = 200
PLAYGROUND, PLAYGROUND_QUERY, BACKWARD = "playground", "dataset=digits", "backward"
WAIT_KINDS = ("open", "click step_epoch", f"page {BACKWARD}")  # a student's path, in order
LIGHT_QUERY, LIGHT_TOGGLE = "dataset=moons", "show_test"  # the cheap rerun: "Show test points" on the moons


# ---- the server ------------------------------------------------------------------------------


@contextlib.contextmanager
def app_server(root=ROOT, args=()):
    """One app process of the checkout at ``root`` on 127.0.0.1, started as ``deploy/run_local.py`` starts
    one but from that checkout's ``app/main.py`` and folder; yields ``(url, process)`` once healthy."""
    root, port = Path(root).resolve(), free_port()
    main = str(root / "app" / "main.py")
    cmd = [main if part == str(ROOT / "app" / "main.py") else part for part in app_command(port, args=args)]
    env = {**os.environ, "PYTHONPATH": str(root)}
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            try:
                wait_healthy(url, proc, what=f"the app of {root}")
            except DeployError as e:
                log.seek(0)
                raise DeployError(f"{e}; its output ends:\n{log.read()[-2000:].decode(errors='replace')}") from None
            yield url, proc
        finally:
            stop(proc)


# ---- CPU and memory of the server's processes -------------------------------------------------


def process_tree(pid):
    """``pid`` and all its descendants, from /proc/<pid>/task/<tid>/children."""
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                todo.extend(int(c) for c in task.read_text().split())
    return pids


def rss_mib(pids):
    """Resident memory (VmRSS) of the processes ``pids`` and their descendants, in MiB; 0 for gone ones."""
    total_kib = 0
    for pid in {p for root in pids for p in process_tree(root)}:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kib += int(line.split()[1])
    return total_kib / 1024


def cpu_seconds(pids):
    """CPU time (user + system) used so far by the processes ``pids`` and their descendants, in seconds."""
    ticks = 0
    for pid in {p for root in pids for p in process_tree(root)}:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return ticks / os.sysconf("SC_CLK_TCK")


class MemoryPeak:
    """Samples ``rss_mib(pids)`` every ``interval`` seconds in a thread; ``peak`` is the largest seen."""

    def __init__(self, pids, interval=0.2):
        self.pids, self.interval, self.peak = pids, interval, rss_mib(pids)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, rss_mib(self.pids))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def load_average():
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# ---- the students ----------------------------------------------------------------------------


@dataclass
class LoadResult:
    sessions: int
    completed: int = 0  # sessions that went the whole path without an error
    errors: list = field(default_factory=list)  # one line each, "session 3: …"
    waits: list = field(default_factory=list)  # (kind, seconds, script runs) of every wait of every session
    runs: list = field(default_factory=list)  # (kind, seconds) of every request's own script run
    shown: list = field(default_factory=list)  # {label: value} of the Playground's metrics after each epoch
    wall_s: float = 0.0
    client_cpu_s: float = 0.0  # CPU time of this process (all the clients) while they ran
    server_cpu_s: float = float("nan")  # CPU time of the server processes meanwhile (when pids are known)
    peak_mib: float = float("nan")  # the server's largest RSS meanwhile (when pids are known)
    load_average: str = ""  # the machine's, before the sessions started

    def seconds(self, kind=None):
        """The waits of ``kind`` ("open", "click step_epoch", …; None: every wait), in seconds."""
        return [s for k, s, _ in self.waits if kind is None or k == kind]


def percentiles(values):
    """(p50, p95, max) of ``values`` (nearest rank), or NaNs for none."""
    if not values:
        return (float("nan"),) * 3
    v = sorted(values)
    return v[math.ceil(0.50 * len(v)) - 1], v[math.ceil(0.95 * len(v)) - 1], v[-1]


def epoch_shown(n):
    """A test of a Playground session: does it show ``n`` epochs done ("Epochs done: 1 / 100")?"""
    return lambda s: s.metric("Epoch").startswith(f"{n} /")


async def student(url, timeout, query=PLAYGROUND_QUERY):
    """One student: the Playground on the digits, "Step 1 epoch" until the epoch is shown, the Backward pass.
    Returns (the Session, closed; its Waits; the Playground's metrics after the epoch)."""
    async with Session(url, timeout=timeout) as s:
        waits = [await s.timed_open(PLAYGROUND, query), await s.timed_click("step_epoch", until=epoch_shown(1))]
        shown = s.metrics()
        waits.append(await s.timed_switch_page(BACKWARD))
    return s, waits, shown


async def _students(url, n, timeout, ramp_s):
    async def one(i):
        await asyncio.sleep(ramp_s * i / max(1, n))
        try:
            return await asyncio.wait_for(student(url, timeout), 4 * timeout)
        except (ClientError, ServerError, TimeoutError, OSError) as e:
            return e

    return await asyncio.gather(*(one(i) for i in range(n)))


def run_load(url, sessions=20, timeout=120.0, ramp_s=0.0, pids=()):
    """Drive ``sessions`` concurrent students against ``url``; returns a LoadResult (CPU and peak memory of the
    server's processes ``pids``, when given)."""
    if not 1 <= sessions <= MAX_SESSIONS:
        raise ClientError(f"sessions must be between 1 and {MAX_SESSIONS}, got {sessions}")
    result = LoadResult(sessions, load_average=load_average())
    t0, cpu0, server0 = time.perf_counter(), time.process_time(), cpu_seconds(pids)
    with MemoryPeak(pids) if pids else contextlib.nullcontext() as mem:
        outcomes = asyncio.run(_students(url, sessions, timeout, ramp_s))
    result.wall_s, result.client_cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
    if pids:
        result.peak_mib, result.server_cpu_s = mem.peak, cpu_seconds(pids) - server0
    for i, out in enumerate(outcomes):
        if isinstance(out, Exception):
            result.errors.append(f"session {i}: {type(out).__name__}: {out}")
            continue
        s, waits, shown = out
        result.waits += [(w.kind, w.seconds, w.runs) for w in waits]
        result.runs += [(r.kind, r.seconds) for r in s.runs if r.kind != "auto"]
        result.shown.append(shown)
        result.errors += [f"session {i}: {e}" for e in s.errors]
        result.completed += not s.errors
    return result


# ---- a cheap rerun beside training students --------------------------------------------------


class _Phase:
    """Start line and finish line of a probe phase: everyone ready, then ``seconds`` of measuring."""

    def __init__(self, parties, seconds):
        self.parties, self.seconds, self._ready, self._stop = parties, seconds, 0, asyncio.Event()
        self._go = asyncio.Event()

    async def wait_ready(self):
        self._ready += 1
        if self._ready == self.parties:
            self._go.set()
            asyncio.get_running_loop().call_later(self.seconds, self._stop.set)
        await self._go.wait()

    def is_set(self):
        return self._stop.is_set()

    async def wait(self, timeout=None):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout)


async def _light(url, phase, think_s, timeout, waits):
    """A student who only changes a control: "Show test points" on the moons Playground, on and off, every
    ``think_s`` seconds."""
    async with Session(url, timeout=timeout) as s:
        await s.open(PLAYGROUND, LIGHT_QUERY)
        await phase.wait_ready()
        on = False
        while not phase.is_set():
            on = not on
            waits.append((await s.timed_value(LIGHT_TOGGLE, bool_value=on)).seconds)
            await phase.wait(think_s)
    return s.errors


async def _trainer(url, mode, phase, timeout, waits):
    """A training student on the digits: "Step 1 epoch" clicked again as soon as the last epoch shows (``mode``
    "epoch"; its Waits), or Play running (``mode`` "play")."""
    async with Session(url, timeout=timeout) as s:
        await s.open(PLAYGROUND, PLAYGROUND_QUERY)
        await phase.wait_ready()
        if mode == "play":
            await s.click("play")
            await phase.wait()
            await s.click("pause")
        epoch = 0
        while mode == "epoch" and not phase.is_set():
            epoch += 1
            waits.append(await s.timed_click("step_epoch", until=epoch_shown(epoch)))
    return s.errors


async def _probe_phase(url, light, training, seconds, think_s, mode, timeout):
    light_waits, training_waits = [], []
    phase = _Phase(light + training, seconds)
    jobs = [_light(url, phase, think_s, timeout, light_waits) for _ in range(light)]
    jobs += [_trainer(url, mode, phase, timeout, training_waits) for _ in range(training)]
    outs = await asyncio.wait_for(asyncio.gather(*jobs, return_exceptions=True), seconds + 4 * timeout)
    errors = [f"{type(o).__name__}: {o}" for o in outs if isinstance(o, Exception)]
    errors += [e for o in outs if isinstance(o, list) for e in o]
    training = percentiles([w.seconds for w in training_waits])
    runs = sum(w.runs for w in training_waits) / len(training_waits) if training_waits else float("nan")
    return {
        "light": percentiles(light_waits),
        "n": len(light_waits),
        "training": training,
        "training_runs": runs,
        "errors": errors,
    }


def cheap_rerun_probe(url, training=20, light=2, seconds=30.0, think_s=1.0, mode="epoch", timeout=120.0):
    """Does training hold up a student who only changes a control? ``light`` students toggle "Show test points"
    every ``think_s`` seconds for ``seconds``: alone, then beside ``training`` students who train (``mode``).
    Returns {"alone" | "beside": {"light": (p50, p95, max) of their waits, "n": waits, "training": (p50, p95,
    max) of the training students' waits and "training_runs" the script runs of each (mode "epoch"), "errors": […],
    "students": training students, "load_average": before the phase}}."""
    out = {}
    for name, n in (("alone", 0), ("beside", training)):
        load = load_average()
        print(f"cheap reruns, {name}{f' {n} training students' if n else ''} (load average {load})…", flush=True)
        phase = asyncio.run(_probe_phase(url, light, n, seconds, think_s, mode, timeout))
        out[name] = {**phase, "students": n, "load_average": load}
    return out


# ---- waves, sweep ----------------------------------------------------------------------------


def waves(url, pids, sessions, n_waves, settle_s, timeout, ramp_s):
    """([LoadResult of each wave], memory): with ``pids``, ``n_waves`` waves of ``sessions`` students, each
    followed by ``settle_s`` seconds of rest; memory is {"baseline", "after": [RSS settle_s after each wave]}."""
    results, memory = [], {"baseline": rss_mib(pids) if pids else float("nan"), "after": []}
    for wave in range(n_waves if pids else 1):
        print(f"wave {wave + 1}: {sessions} sessions (load average {load_average()})…", flush=True)
        results.append(run_load(url, sessions, timeout, ramp_s, pids))
        if pids:
            print(f"waiting {settle_s:g} s after the sessions closed…", flush=True)
            time.sleep(settle_s)
            memory["after"].append(rss_mib(pids))
    return results, memory


def sweep(url, sizes, timeout, ramp_s):
    """[(sessions, p50, p95, max of every wait, [errors])] for waves of each size in ``sizes``, one after another."""
    rows = []
    for n in sizes:
        print(f"sweep: {n} sessions…", flush=True)
        load = run_load(url, n, timeout, ramp_s)
        rows.append((n, *percentiles(load.seconds()), load.errors))
    return rows


# ---- the figures and the table ---------------------------------------------------------------


def _share(x, whole):
    """``x`` as a percentage of ``whole`` (NaN when ``whole`` is not positive)."""
    return 100 * x / whole if whole > 0 else float("nan")


def figures(results, memory, probe=None, sweep_rows=None):
    """{label: value} of every figure, in the table's order; a value is a number, or a text."""
    first, f = results[0], {}
    f["sessions completed"] = f"{first.completed} / {first.sessions}"
    f["errors"] = len(first.errors)
    for name, kind in (("every wait", None), *((k, k) for k in WAIT_KINDS)):
        for stat, x in zip(("p50", "p95", "max"), percentiles(first.seconds(kind))):
            f[f"{name} {stat} (s)"] = x
    click_runs = [r for k, _, r in first.waits if k == "click step_epoch"]
    f["script runs per click (slices)"] = sum(click_runs) / len(click_runs) if click_runs else float("nan")
    f["script run p95 (s), the old measure"] = percentiles([s for _, s in first.runs])[1]
    f["wall time (s)"] = first.wall_s
    f["clients' CPU (s)"] = first.client_cpu_s
    if first.server_cpu_s == first.server_cpu_s:  # not NaN: the server's processes are known
        f["server CPU per session (s)"] = first.server_cpu_s / first.sessions
        f["server cores busy"] = first.server_cpu_s / first.wall_s
        rise = first.peak_mib - memory["baseline"]
        f["RSS after warm-up (MiB)"] = memory["baseline"]
        f["RSS peak (MiB)"] = first.peak_mib
        f["RSS rise per session (MiB)"] = rise / first.sessions
        f["RSS after the sessions (MiB)"] = memory["after"][0]
        f["RSS kept (% of the rise)"] = _share(memory["after"][0] - memory["baseline"], rise)
        for i, (load, after) in enumerate(zip(results[1:], memory["after"][1:]), 2):
            f[f"wave {i}: every wait p95 (s)"] = percentiles(load.seconds())[1]
            f[f"wave {i}: server CPU per session (s)"] = load.server_cpu_s / load.sessions
            f[f"wave {i}: errors"] = len(load.errors)
            f[f"wave {i} adds at its peak (% of wave 1's rise)"] = _share(load.peak_mib - first.peak_mib, rise)
            f[f"wave {i} adds after (% of wave 1's rise)"] = _share(after - memory["after"][0], rise)
    if probe:
        alone, beside = probe["alone"], probe["beside"]
        f["training students beside the cheap reruns"] = beside["students"]
        f["cheap rerun alone p95 (s)"] = alone["light"][1]
        f["cheap rerun beside training p95 (s)"] = beside["light"][1]
        f["cheap rerun beside training max (s)"] = beside["light"][2]
        f["cheap reruns timed beside training"] = beside["n"]
        f["the training students' waits p95 (s)"] = beside["training"][1]
        f["the training students' script runs per click"] = beside["training_runs"]
    for size, p50, p95, mx, errors in sweep_rows or ():
        f[f"sweep {size} sessions: p50 / p95 / max (s), errors"] = f"{p50:.2f} / {p95:.2f} / {mx:.2f}, {len(errors)}"
    for i, load in enumerate(results, 1):
        f[f"load average before wave {i}"] = load.load_average
    for name, phase in (probe or {}).items():
        f[f"load average before the cheap reruns {name}"] = phase["load_average"]
    return f


def _cell(x):
    if isinstance(x, str):
        return x
    return f"{x:.0f}" if isinstance(x, int) or abs(x) >= 100 else f"{x:.2f}"


def table(now, before=None):
    """The figures ``now`` as lines of text; with ``before`` (figures of the same labels), side by side with
    the ratio now / before."""
    if before is None:
        return [f"{label:52} {_cell(x):>15}" for label, x in now.items()]
    lines = [f"{'':52} {'before':>15} {'after':>15} {'after/before':>13}"]
    for label, x in now.items():
        b = before.get(label, "–")
        numbers = not isinstance(x, str) and not isinstance(b, str)
        ratio = f"×{x / b:.2f}" if numbers and b and math.isfinite(x / b) else ""
        lines.append(f"{label:52} {_cell(b):>15} {_cell(x):>15} {ratio:>13}")
    return lines


def verdicts(now, before=None):
    """The issue's targets that these figures decide, met or not, as lines of text."""
    done, total = now["sessions completed"].split(" / ")
    p95 = now["every wait p95 (s)"]
    checks = [
        ("every session completed, no error", done == total and not now["errors"], f"{done} / {total}"),
        ("p95 of every wait at most 3 s", p95 <= 3.0, f"{p95:.2f} s"),
    ]
    cpu, added = "server CPU per session (s)", now.get("wave 2 adds after (% of wave 1's rise)")
    if before and cpu in before and cpu in now:
        ratio = now[cpu] / before[cpu]
        checks.append(("server CPU per session at least halved", ratio <= 0.5, f"×{ratio:.2f}"))
    if added is not None:  # what stays: a peak depends on how the sessions overlapped
        checks.append(("a second wave adds under 5 % of the first's rise", added < 5, f"{added:.1f} % after it"))
    if "cheap rerun beside training p95 (s)" in now:
        light = now["cheap rerun beside training p95 (s)"]
        checks.append(("a cheap rerun beside the training students, p95 under 1 s", light < 1.0, f"{light:.2f} s"))
    return [f"{'met    ' if ok else 'NOT met'}  {text} ({detail})" for text, ok, detail in checks]


def environment(target):
    import numpy
    import streamlit

    knobs = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "MALLOC_ARENA_MAX")
    knobs = ", ".join(f"{k}={os.environ[k]}" for k in knobs if k in os.environ) or "no thread or malloc settings"
    return {
        "target": target,
        "machine": f"{os.cpu_count()} CPUs, load average at the start {load_average()}; Python "
        f"{platform.python_version()}, streamlit {streamlit.__version__}, numpy {numpy.__version__}; "
        f"{platform.platform()}; {knobs}",
    }


# ---- the command line ------------------------------------------------------------------------


def _sizes(text):
    sizes = [int(s) for s in text.split(",") if s.strip()]
    if not sizes or not all(1 <= s <= MAX_SESSIONS for s in sizes) or len(sizes) > 12:
        raise argparse.ArgumentTypeError(f"up to 12 sizes between 1 and {MAX_SESSIONS}, e.g. 2,4,8,12,16,20")
    return sizes


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sessions", type=int, default=20, help=f"students at once (1 to {MAX_SESSIONS})")
    p.add_argument("--ramp", type=float, default=0.0, help="spread their starts over this many seconds")
    p.add_argument("--app-root", type=Path, default=ROOT, help="start the app of this checkout (default: this one)")
    p.add_argument("--server-arg", action="append", default=[], help="extra `streamlit run` option (repeatable)")
    p.add_argument("--url", help="a server running elsewhere on 127.0.0.1, e.g. nginx's; none is started here")
    p.add_argument("--pid", type=int, action="append", default=[], help="with --url: an app process to measure")
    p.add_argument("--waves", type=int, default=2, help="repeat the sessions to tell a leak from a high-water mark")
    p.add_argument("--settle", type=float, default=30.0, help="seconds after the sessions close to measure memory")
    p.add_argument("--sweep", type=_sizes, help="also: p95 for waves of these sizes (2,4,8,…): how many it holds")
    p.add_argument("--probe-training", type=int, help="training students beside the cheap reruns (--sessions)")
    p.add_argument("--probe-light", type=int, default=2, help="students making the cheap reruns")
    p.add_argument("--probe-think", type=float, default=1.0, help="seconds between their reruns")
    p.add_argument("--probe-seconds", type=float, default=30.0, help="length of each probe phase")
    p.add_argument("--probe-mode", choices=("epoch", "play"), default="epoch", help="how the others train")
    p.add_argument("--no-probe", action="store_true", help="skip the cheap-rerun probe")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds any one wait may take")
    p.add_argument("--json", type=Path, help="also write the figures to this file")
    p.add_argument("--compare", type=Path, help="figures of an earlier --json run: print before and after")
    args = p.parse_args(argv)
    args.probe_training = args.sessions if args.probe_training is None else args.probe_training
    if not (1 <= args.sessions <= MAX_SESSIONS and 0 <= args.probe_training <= MAX_SESSIONS):
        p.error(f"--sessions and --probe-training must be between 1 and {MAX_SESSIONS}")
    if not (0 <= args.settle <= 600 and 0 < args.probe_seconds <= 300 and 1 <= args.waves <= 5):
        p.error("--settle must be 0–600 s, --probe-seconds 0–300 s, --waves 1–5")
    if not (1 <= args.probe_light <= 50 and 0 <= args.probe_think <= 10 and 0 <= args.ramp <= 600):
        p.error("--probe-light must be 1–50, --probe-think 0–10 s, --ramp 0–600 s")
    if not 1 <= args.timeout <= 600:
        p.error("--timeout must be 1–600 s")
    if not args.url and not (args.app_root / "app" / "main.py").is_file():
        p.error(f"--app-root {args.app_root}: no app/main.py there")
    if args.compare and not args.compare.is_file():
        p.error(f"--compare {args.compare}: no such file")
    return args


def main(argv=None):
    args = parse_args(argv)
    server_args = [a for arg in args.server_arg for a in arg.split(maxsplit=1)]
    with contextlib.ExitStack() as stack:
        if args.url:
            url, pids = args.url.rstrip("/"), args.pid
            wait_healthy(url, timeout=10)
            target = f"{args.sessions} sessions against {url}" + (f", processes {pids}" if pids else "")
        else:
            url, proc = stack.enter_context(app_server(args.app_root, server_args))
            pids = [proc.pid]
            target = f"{args.sessions} sessions against the app of {args.app_root.resolve()}, one process started here"
        env = environment(target + (f" ({' '.join(server_args)})" if server_args else ""))
        n_warm = max(1, len(pids))  # behind nginx: round robin gives each process one
        print(f"{env['target']}\nwarming up ({n_warm} session(s): imports, shared data cache)…", flush=True)
        warm = run_load(url, n_warm, args.timeout)
        if warm.errors:
            print("\n".join(["the warm-up session failed:", *warm.errors]))
            return 1
        time.sleep(2)
        results, memory = waves(url, pids, args.sessions, args.waves, args.settle, args.timeout, args.ramp)
        rows = sweep(url, args.sweep, args.timeout, args.ramp) if args.sweep else None
        probe = None
        if not args.no_probe:
            probe = cheap_rerun_probe(
                url,
                args.probe_training,
                args.probe_light,
                args.probe_seconds,
                args.probe_think,
                args.probe_mode,
                args.timeout,
            )
    now = figures(results, memory, probe, rows)
    before = json.loads(args.compare.read_text())["figures"] if args.compare else None
    errors = [e for r in results for e in r.errors] + [e for p in (probe or {}).values() for e in p["errors"]]
    errors += [f"sweep {row[0]}: {e}" for row in rows or () for e in row[-1]]
    lines = ["", f"MLP Backprop Lab load test — {env['target']}", env["machine"], "", *table(now, before), ""]
    lines += verdicts(now, before) + [f"  error: {e}" for e in errors[:10]]
    lines += [f"  … {len(errors) - 10} more errors"] if len(errors) > 10 else []
    print("\n".join(lines))
    if args.json:
        data = {"env": env, "figures": now, "waves": [asdict(r) for r in results], "memory": memory, "probe": probe}
        args.json.write_text(json.dumps(data, indent=1))
    return 0 if all(r.completed == r.sessions and not r.errors for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
