"""How many students one app server holds: N concurrent sessions through Streamlit's own protocol.

Each session does what a student does first: opens the Playground on the 8×8 digits
(``/playground?dataset=digits``), trains one epoch (the button ``step_epoch``) and opens the
Backward pass page (``/backward``). The clients are asyncio websockets
(``benchmarks/streamlit_client.py``), so they cost the server's cores nothing (their CPU time is
printed). The report: sessions completed, errors, p50/p95/max time of a script run (request sent →
``script_finished``), the server's CPU time per session, its memory (RSS of its process tree, from
/proc) at baseline, peak and ``--settle`` seconds after the sessions close (``--waves`` repeats the
load: a leak grows every wave, a high-water mark does not), optionally p95 for several sizes
(``--sweep``), and whether one student's long training slows the others' reruns (the freeze probe).

    python benchmarks/load_test.py                    # starts a server on 127.0.0.1, 20 sessions
    python benchmarks/load_test.py --sessions 50 --json results.json
    python benchmarks/load_test.py --sweep 2,4,6,8,10,12,16,20 --ramp 30
    python deploy/run_local.py --processes 2 &        # then, through nginx:
    python benchmarks/load_test.py --url http://127.0.0.1:8080 --pid 4321 --pid 4322

Targets (issue 11): 20 sessions with no error, p95 under 3 s, memory back within 10 % of its
peak-to-baseline rise. The baseline is taken after a warm-up session per server process (imports,
the shared data cache), so the rise is what the sessions themselves cost. Wall-clock figures are
only as good as the machine is quiet: the load average before the run is printed with them.
"""

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.streamlit_client import ClientError, ServerError, Session  # noqa: E402
from deploy.run_local import app_process, wait_healthy  # noqa: E402

MAX_SESSIONS = 200
PLAYGROUND, PLAYGROUND_QUERY, BACKWARD = "playground", "dataset=digits", "backward"
LIGHT_QUERY = "dataset=digits"  # the freeze probe's cheap reruns: the Playground redrawn as after a click
HEAVY_QUERY = "dataset=digits&depth=2&width=512&batch_size=8&epochs=500"  # one student's long training


# ---- memory ----------------------------------------------------------------------------------


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


# ---- the sessions ----------------------------------------------------------------------------


@dataclass
class LoadResult:
    sessions: int
    completed: int = 0
    errors: list = field(default_factory=list)  # one line each, "session 3: …"
    runs: list = field(default_factory=list)  # (kind, seconds) of every script run
    wall_s: float = 0.0
    client_cpu_s: float = 0.0  # CPU time of this process (all the clients) while they ran
    server_cpu_s: float = float("nan")  # CPU time of the server processes meanwhile (when pids are known)
    memory_mib: dict = field(default_factory=dict)  # baseline, peak, after (when measured)

    def seconds(self, kind=None):
        return [s for k, s in self.runs if kind is None or k == kind]


def percentiles(values):
    """(p50, p95, max) of ``values`` (nearest rank), or NaNs for none."""
    if not values:
        return (float("nan"),) * 3
    v = sorted(values)
    return v[math.ceil(0.50 * len(v)) - 1], v[math.ceil(0.95 * len(v)) - 1], v[-1]


async def student(url, timeout, query=PLAYGROUND_QUERY):
    """One student: Playground on the digits, one epoch, Backward pass. Returns the Session (closed)."""
    async with Session(url, timeout=timeout) as s:
        await s.open(PLAYGROUND, query)
        await s.click("step_epoch")
        await s.settle()  # an epoch longer than a click's time budget goes on in slices
        shown = s.metric("Epoch")
        if not shown.startswith("1 /"):
            s.errors.append(f"after one epoch the Playground shows epoch {shown!r}")
        await s.switch_page(BACKWARD)
    return s


async def _students(url, n, timeout, ramp_s):
    async def one(i):
        await asyncio.sleep(ramp_s * i / max(1, n))
        try:
            return await asyncio.wait_for(student(url, timeout), 4 * timeout)
        except (ClientError, ServerError, TimeoutError, OSError) as e:
            return e

    return await asyncio.gather(*(one(i) for i in range(n)))


def run_load(url, sessions=20, timeout=120.0, ramp_s=0.0, pids=()):
    """Drive ``sessions`` concurrent students against ``url``; returns a LoadResult (peak memory if ``pids``)."""
    if not 1 <= sessions <= MAX_SESSIONS:
        raise ClientError(f"sessions must be between 1 and {MAX_SESSIONS}, got {sessions}")
    result = LoadResult(sessions)
    t0, cpu0, server0 = time.perf_counter(), time.process_time(), cpu_seconds(pids)
    with MemoryPeak(pids) if pids else contextlib.nullcontext() as mem:
        outcomes = asyncio.run(_students(url, sessions, timeout, ramp_s))
    result.wall_s, result.client_cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
    if pids:
        result.memory_mib["peak"], result.server_cpu_s = mem.peak, cpu_seconds(pids) - server0
    for i, out in enumerate(outcomes):
        if isinstance(out, Exception):
            result.errors.append(f"session {i}: {type(out).__name__}: {out}")
            continue
        result.runs += [(r.kind, r.seconds) for r in out.runs]
        result.errors += [f"session {i}: {e}" for e in out.errors]
        result.completed += not out.errors
    return result


# ---- does long work freeze the others? --------------------------------------------------------


async def _light(url, stop, think_s, timeout, times):
    """A student touching a control every ``think_s`` seconds: the Playground on the digits, rerun."""
    async with Session(url, timeout=timeout) as s:
        await s.open(PLAYGROUND, LIGHT_QUERY)
        await stop.wait_ready()
        while not stop.is_set():
            times.append((await s.rerun()).seconds)
            await stop.wait(think_s)
    return s.errors


async def _heavy(url, mode, stop, timeout, times):
    """One student's long training: Play (fragment reruns on a timer) or Step 1 epoch clicked again and again."""
    async with Session(url, timeout=timeout) as s:
        await s.open(PLAYGROUND, HEAVY_QUERY)
        if mode == "play":
            await s.click("play")
            await stop.wait_ready()
            await stop.wait()
            await s.click("pause")
            times += [r.seconds for r in s.runs if r.kind == "auto"]
        else:
            await s.send_click("step_epoch")
            await s.wait_started()
            await stop.wait_ready()
            while True:
                times.append((await s.wait()).seconds)
                if stop.is_set():
                    break
                await s.send_click("step_epoch")
    return s.errors


class _Phase:
    """Start line and finish line of a freeze-probe phase: everyone ready, then ``seconds`` of measuring."""

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


async def _freeze_phase(url, light, seconds, think_s, heavy, timeout):
    light_times, heavy_times = [], []
    phase = _Phase(light + bool(heavy), seconds)
    jobs = [_light(url, phase, think_s, timeout, light_times) for _ in range(light)]
    if heavy:
        jobs.append(_heavy(url, heavy, phase, timeout, heavy_times))
    outs = await asyncio.wait_for(asyncio.gather(*jobs, return_exceptions=True), seconds + 4 * timeout)
    errors = [f"{type(o).__name__}: {o}" for o in outs if isinstance(o, Exception)]
    return light_times, heavy_times, errors + [e for o in outs if isinstance(o, list) for e in o]


def freeze_probe(url, light=3, seconds=15.0, think_s=1.0, modes=("play", "epoch"), timeout=120.0):
    """Does one student's long work freeze the others? ``light`` sessions rerun the Playground every ``think_s``
    seconds for ``seconds``: alone, then beside one long training per mode in ``modes``. Returns
    {phase: {"light": (p50, p95, max), "heavy": (p50, p95, max) of the long work's runs, "n": reruns, "errors"}}."""
    out = {}
    for mode in (None, *modes):
        light_t, heavy_t, errors = asyncio.run(_freeze_phase(url, light, seconds, think_s, mode, timeout))
        out[mode or "alone"] = {"light": percentiles(light_t), "heavy": percentiles(heavy_t), "n": len(light_t),
                                "errors": errors}  # fmt: skip
    return out


# ---- the report ------------------------------------------------------------------------------


def _fmt(triple):
    return " / ".join(f"{x:.2f}" for x in triple)


def report(result, freeze, settle_s, env, sweep_rows=None, ramp_s=0.0):
    """The table, as lines of text."""
    lines = [f"MLP Backprop Lab load test — {env['target']}", f"{env['machine']}", ""]
    p50, p95, mx = percentiles(result.seconds())
    lines += [
        f"{'sessions completed':34} {result.completed} / {result.sessions}",
        f"{'errors':34} {len(result.errors)}",
        f"{'script runs':34} {len(result.runs)} in {result.wall_s:.1f} s (clients' CPU {result.client_cpu_s:.1f} s)",
        f"{'run time p50 / p95 / max (s)':34} {_fmt((p50, p95, mx))}",
    ]
    if result.server_cpu_s == result.server_cpu_s:  # not NaN: the server's processes are known
        per = result.server_cpu_s / result.sessions
        cores = result.server_cpu_s / result.wall_s
        lines.insert(-1, f"{'server CPU':34} {result.server_cpu_s:.1f} s: {per:.2f} s per session, "
                         f"{cores:.2f} cores busy on average")  # fmt: skip
    for kind in ("open", "click step_epoch", f"page {BACKWARD}"):
        lines.append(f"{'  ' + kind:34} {_fmt(percentiles(result.seconds(kind)))}")
    m = result.memory_mib
    if m:
        first = m["waves"][0]
        rise, back = first["peak"] - m["baseline"], first["after"] - m["baseline"]
        ok = back <= 0.10 * max(rise, 0.0)
        lines += [
            f"{'server RSS baseline (MiB)':34} {m['baseline']:.0f}  (after the warm-up)",
            f"{'server RSS peak (MiB)':34} {first['peak']:.0f}  (rise {rise:.0f}, {rise / result.sessions:.1f} per session)",
            f"{f'server RSS {settle_s:g} s after close (MiB)':34} {first['after']:.0f}  ({back:+.0f} over baseline)",
            f"{'memory back within 10 % of rise':34} {'yes' if ok else 'no'} "
            f"({100 * back / rise if rise > 0 else 0:.0f} % of the rise remains)",
        ]
        for i, w in enumerate(m["waves"][1:], 2):
            lines.append(f"{f'  wave {i}: peak / after (MiB)':34} {w['peak']:.0f} / {w['after']:.0f}  "
                         f"({w['after'] - first['after']:+.0f} after, vs wave 1; a leak adds ~{rise:.0f} a wave)")  # fmt: skip
    if freeze:
        lines += ["", f"{'cheap reruns of other sessions':34} {'light p50 / p95 / max (s)':>26} {'runs':>5}"
                      f"   {'the long work p50 / p95 / max (s)'}"]  # fmt: skip
        for phase, f in freeze.items():
            heavy = "" if phase == "alone" else _fmt(f["heavy"])
            label = {
                "alone": "  alone",
                "play": "  beside one Play (long run)",
                "epoch": "  beside Step-1-epoch clicks",
            }
            lines.append(f"{label.get(phase, phase):34} {_fmt(f['light']):>26} {f['n']:>5}   {heavy}")
        base = freeze["alone"]["light"][1]
        for phase, f in freeze.items():
            if phase != "alone":
                lines.append(f"{'  p95 slow-down, ' + phase:34} ×{f['light'][1] / base:.1f}")
    if sweep_rows:
        lines += sweep_lines(sweep_rows, ramp_s)
    verdict = result.completed == result.sessions and not result.errors and p95 < 3.0
    lines += ["", f"target (all sessions, no error, p95 < 3 s): {'met' if verdict else 'NOT met'}"]
    errors = result.errors + [f"sweep {row[0]}: {e}" for row in sweep_rows or [] for e in row[-1]]
    errors += [f"freeze probe, {phase}: {e}" for phase, f in (freeze or {}).items() for e in f["errors"]]
    lines += [f"  error: {e}" for e in errors[:10]] + ([f"  … {len(errors) - 10} more"] if len(errors) > 10 else [])
    return lines


def environment(target):
    import numpy
    import streamlit

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    knobs = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "MALLOC_ARENA_MAX")
    knobs = ", ".join(f"{k}={os.environ[k]}" for k in knobs if k in os.environ) or "no thread or malloc settings"
    return {
        "target": target,
        "machine": f"{os.cpu_count()} CPUs, load average before the run {load}; Python {platform.python_version()}, "
        f"streamlit {streamlit.__version__}, numpy {numpy.__version__}; {platform.platform()}; {knobs}",
    }


def waves(url, pids, sessions, n_waves, settle_s, timeout, ramp_s):
    """The first wave's LoadResult, with every wave's errors and, when ``pids`` are known, the memory:
    {"baseline", "waves": [{"peak", "after"}, …]} (``after``: ``settle_s`` seconds after the wave closed)."""
    baseline = rss_mib(pids) if pids else None
    result = None
    for wave in range(n_waves if pids else 1):
        print(f"wave {wave + 1}: {sessions} sessions…", flush=True)
        load = run_load(url, sessions, timeout, ramp_s, pids)
        if result is None:
            result = load
        else:
            result.errors += [f"wave {wave + 1}, {e}" for e in load.errors]
        if pids:
            print(f"waiting {settle_s:g} s after the sessions closed…", flush=True)
            time.sleep(settle_s)
            result.memory_mib.setdefault("waves", []).append({"peak": load.memory_mib["peak"], "after": rss_mib(pids)})
    if pids:
        result.memory_mib["baseline"] = baseline
    return result


def sweep(url, sizes, timeout, ramp_s):
    """[(sessions, p50, p95, max, [errors])] for waves of each size in ``sizes``, one after the other."""
    rows = []
    for n in sizes:
        print(f"sweep: {n} sessions…", flush=True)
        load = run_load(url, n, timeout, ramp_s)
        rows.append((n, *percentiles(load.seconds()), load.errors))
    return rows


def sweep_lines(rows, ramp_s):
    arrival = f"starting over {ramp_s:g} s" if ramp_s else "starting together"
    lines = ["", f"{'sessions ' + arrival:34} {'p50 / p95 / max (s)':>26} {'errors':>7}"]
    lines += [f"{f'  {n}':34} {_fmt((p50, p95, mx)):>26} {len(e):>7}" for n, p50, p95, mx, e in rows]
    held = [n for n, _, p95, _, e in rows if p95 < 3.0 and not e]
    lines.append(f"{'holds with p95 < 3 s':34} {max(held) if held else 'none of these'} sessions")
    return lines


def _sizes(text):
    sizes = [int(s) for s in text.split(",") if s.strip()]
    if not sizes or not all(1 <= s <= MAX_SESSIONS for s in sizes) or len(sizes) > 12:
        raise argparse.ArgumentTypeError(f"up to 12 sizes between 1 and {MAX_SESSIONS}, e.g. 2,4,8,12,16,20")
    return sizes


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sessions", type=int, default=20, help=f"concurrent sessions (1 to {MAX_SESSIONS})")
    p.add_argument("--url", help="a running server on 127.0.0.1 (e.g. nginx); default: start one here")
    p.add_argument("--pid", type=int, action="append", default=[], help="with --url: server processes to measure")
    p.add_argument("--settle", type=float, default=30.0, help="seconds after the sessions close to measure memory")
    p.add_argument("--waves", type=int, default=2, help="repeat the sessions to tell a leak from a high-water mark")
    p.add_argument("--ramp", type=float, default=0.0, help="spread the session starts over this many seconds")
    p.add_argument("--sweep", type=_sizes, help="also: p95 for waves of these sizes (2,4,8,…): how many it holds")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds any one wait may take")
    p.add_argument("--freeze-light", type=int, default=3, help="sessions doing cheap reruns in the freeze probe")
    p.add_argument("--freeze-think", type=float, default=1.0, help="seconds between their reruns")
    p.add_argument("--freeze-seconds", type=float, default=15.0, help="length of each freeze-probe phase")
    p.add_argument("--freeze-modes", default="play,epoch", help="long work to probe: play, epoch (comma list)")
    p.add_argument("--no-freeze", action="store_true", help="skip the freeze probe")
    p.add_argument("--server-arg", action="append", default=[], help="extra `streamlit run` option (repeatable)")
    p.add_argument("--json", help="also write the figures to this file")
    args = p.parse_args(argv)
    modes = tuple(m for m in args.freeze_modes.split(",") if m)
    if not 1 <= args.sessions <= MAX_SESSIONS:
        p.error(f"--sessions must be between 1 and {MAX_SESSIONS}")
    if not (0 <= args.settle <= 600 and 0 < args.freeze_seconds <= 120 and 1 <= args.waves <= 5):
        p.error("--settle must be 0–600 s, --freeze-seconds 0–120 s, --waves 1–5")
    if not (1 <= args.freeze_light <= 50 and 0 <= args.freeze_think <= 10 and 0 <= args.ramp <= 600):
        p.error("--freeze-light must be 1–50, --freeze-think 0–10 s, --ramp 0–600 s")
    if not 1 <= args.timeout <= 600 or set(modes) - {"play", "epoch"}:
        p.error("--timeout must be 1–600 s; --freeze-modes takes play and/or epoch")
    server_args = [a for arg in args.server_arg for a in arg.split(maxsplit=1)]

    with contextlib.ExitStack() as stack:
        if args.url:
            url, pids = args.url.rstrip("/"), args.pid
            wait_healthy(url, timeout=10)
            target = f"{args.sessions} sessions against {url}"
        else:
            url, proc = stack.enter_context(app_process(args=server_args))
            pids = [proc.pid]
            target = f"{args.sessions} sessions against a server started here ({url} {' '.join(server_args)})"
        env = environment(target)
        n_warm = max(1, len(pids))  # behind nginx: round robin gives each process one
        print(f"{env['target']}\nwarming up ({n_warm} session(s): imports, shared data cache)…", flush=True)
        warm = run_load(url, n_warm, args.timeout)
        if warm.errors:
            print("\n".join(["the warm-up session failed:", *warm.errors]))
            return 1
        time.sleep(2)
        result = waves(url, pids, args.sessions, args.waves, args.settle, args.timeout, args.ramp)
        rows = sweep(url, args.sweep, args.timeout, args.ramp) if args.sweep else None
        freeze = None
        if not args.no_freeze:
            print(f"freeze probe: {args.freeze_light} sessions rerunning every {args.freeze_think:g} s, alone and "
                  f"beside {', '.join(modes)}…", flush=True)  # fmt: skip
            freeze = freeze_probe(url, args.freeze_light, args.freeze_seconds, args.freeze_think, modes, args.timeout)
    lines = report(result, freeze, args.settle, env, rows, args.ramp)
    print("\n" + "\n".join(lines))
    if args.json:
        figures = {"env": env, "result": asdict(result), "freeze": freeze, "sweep": rows}
        Path(args.json).write_text(json.dumps(figures, indent=1))
    return 0 if result.completed == result.sessions and not result.errors else 1


if __name__ == "__main__":
    sys.exit(main())
