"""Work whose cost a user's input decides, run in a worker process bounded in time and memory.

A check on the input cannot foresee every costly case (SymPy cancels ``x - x`` in an exponent and
Python then computes 9**387420489 in one call that holds the interpreter lock), so such work runs
outside the server's interpreter. ``python -m core.bounded`` is a small single-threaded worker server
that imports what the tasks need once; for every request it forks a child with an address-space limit,
waits for it at most the time limit and kills it when it runs over. The server's own threads only
ever wait for the bound, and at most ``MAX_WORKERS`` such children run at once.

Only JSON crosses the boundary: a task name from ``TASKS``, its argument and its result. Nothing the
worker returns is unpickled or executed, so even a worker that misbehaved could only send wrong data,
which the caller checks.
"""

import json
import os
import resource
import select
import signal
import subprocess
import sys
import threading
import time
from importlib import import_module
from pathlib import Path

TIME_LIMIT_S = 2.0  # wall-clock seconds a task may run
MEMORY_LIMIT_MB = 768  # a task's address space (the worker server with NumPy and SymPy is about 140 MB)
MAX_WORKERS = 2  # tasks at once; a request waits at most TIME_LIMIT_S for a free worker
MAX_REPLY = 4 * 2**20  # bytes of a task's JSON result
TASKS = {"surface": "core.analysis.curvature.surface_program:compile_for_worker"}  # name → module:function
ROOT = Path(__file__).resolve().parents[1]


class TooCostly(RuntimeError):
    """The task ran past its time or memory bound (or its worker died); the message says which."""


class Busy(TooCostly):
    """Every worker is in use: the task was not started."""


# ---- in the worker server ------------------------------------------------------------------


def _read_until_eof(fd, deadline, limit):
    """Bytes from ``fd`` until end of file; None past ``deadline`` (time.monotonic) or over ``limit`` bytes."""
    chunks, size = [], 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)


def _run_child(fn, argument, memory_mb, out):
    """In the forked child: limit memory and CPU, run the task, write its JSON reply to ``out``, exit."""
    try:
        limit = memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        cpu = int(TIME_LIMIT_S) + 5  # a backstop: the server kills it first
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
        reply = {"status": "ok", "value": fn(argument)}
    except MemoryError:
        reply = {"status": "memory"}
    except BaseException as e:  # any failure crosses back as one line
        first = str(e).splitlines()[0] if str(e) else ""
        reply = {"status": "error", "value": f"{type(e).__name__}: {first}"[:300]}
    try:
        os.write(out, json.dumps(reply).encode())
    finally:
        os._exit(0)


def _serve_one(request):
    """Fork a child for one request and wait for it within its time limit: the reply as a dict."""
    module, name = TASKS[request["task"]].split(":")
    fn = getattr(import_module(module), name)
    time_limit, memory_mb = float(request["time_limit_s"]), int(request["memory_mb"])
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        _run_child(fn, request["argument"], memory_mb, write)
    os.close(write)
    try:
        data = _read_until_eof(read, time.monotonic() + time_limit, MAX_REPLY)
    finally:
        os.close(read)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _, status = os.waitpid(pid, 0)
    if data is None:
        return {"status": "timeout"}
    if not data:
        return {"status": "died", "value": f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else ""}
    return json.loads(data)


def serve():
    """The worker server: one JSON request a line on stdin, one JSON reply a line on stdout, until stdin closes."""
    for name in TASKS.values():  # import once, so that every forked child starts with them loaded
        import_module(name.split(":")[0])
    for line in sys.stdin.buffer:
        try:
            reply = _serve_one(json.loads(line))
        except Exception as e:  # a bad request must not stop the server
            reply = {"status": "error", "value": f"{type(e).__name__}: {e}"[:300]}
        sys.stdout.buffer.write(json.dumps(reply).encode() + b"\n")
        sys.stdout.buffer.flush()


# ---- in the app ----------------------------------------------------------------------------


class _Worker:
    """One worker server process, started on first use and again after it died or hung."""

    def __init__(self):
        self.process = None
        self.buffer = b""

    def _start(self):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "core.bounded"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
            env=env,
            start_new_session=True,
        )
        self.buffer = b""

    def stop(self):
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def ask(self, request, wait_s):
        """Send ``request``; its reply, or None when the server did not answer within ``wait_s`` (then it is
        stopped: the next request starts a new one)."""
        if self.process is None or self.process.poll() is not None:
            self._start()
        try:
            self.process.stdin.write(json.dumps(request).encode() + b"\n")
            self.process.stdin.flush()
        except OSError:
            self.stop()
            return None
        fd, deadline = self.process.stdout.fileno(), time.monotonic() + wait_s
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            chunk = os.read(fd, 65536) if left > 0 and select.select([fd], [], [], left)[0] else b""
            if not chunk or len(self.buffer) > MAX_REPLY:
                self.stop()
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)


_workers = [_Worker() for _ in range(MAX_WORKERS)]
_free = list(_workers)
_free_lock = threading.Lock()
_slots = threading.Semaphore(MAX_WORKERS)
STARTUP_S = 20.0  # the first request also waits for the worker server to import NumPy and SymPy


def run_bounded(task, argument, time_limit_s=TIME_LIMIT_S, memory_mb=MEMORY_LIMIT_MB):
    """The result of task ``task`` (a key of ``TASKS``) on ``argument`` (JSON data), computed in a worker.

    Raises:
        TooCostly: the task ran past ``time_limit_s`` (it was killed), past ``memory_mb``, or its worker died.
        Busy: no worker became free within ``time_limit_s``.
        RuntimeError: the task raised; the message is "ExceptionType: first line".
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}")
    if not _slots.acquire(timeout=time_limit_s):
        raise Busy("the server is busy computing other such requests: try again in a moment")
    with _free_lock:
        worker = _free.pop()
    try:
        started = worker.process is not None and worker.process.poll() is None
        request = {"task": task, "argument": argument, "time_limit_s": time_limit_s, "memory_mb": memory_mb}
        reply = worker.ask(request, time_limit_s + (2.0 if started else STARTUP_S))
    finally:
        with _free_lock:
            _free.append(worker)
        _slots.release()
    status = (reply or {"status": "timeout"})["status"]
    if status == "ok":
        return reply["value"]
    if status == "timeout":
        raise TooCostly(f"it takes more than {time_limit_s:g} s")
    if status in ("memory", "died"):
        raise TooCostly(f"it needs more than {memory_mb} MB of memory, or nests too deeply")
    raise RuntimeError(str(reply.get("value", ""))[:300])


if __name__ == "__main__":
    serve()
