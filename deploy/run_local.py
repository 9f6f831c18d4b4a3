"""N app processes on 127.0.0.1 behind nginx, on one machine; Ctrl-C (or SIGTERM) stops them all.

    python deploy/run_local.py                       # 2 processes behind http://127.0.0.1:8080
    python deploy/run_local.py --processes 4 --port 9000

Each process is ``streamlit run app/main.py`` on its own port (from ``--first-port`` on); nginx runs
in the foreground as a child, from ``deploy/nginx.conf`` filled in a temporary folder that also
holds its pid file, temp files and logs (``access.log`` names the process that served each request).
Nothing is written outside that folder; no root rights are needed.
"""

import argparse
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = Path(__file__).with_name("nginx.conf")
NGINX = os.environ.get("NGINX", shutil.which("nginx") or "/usr/sbin/nginx")


class DeployError(RuntimeError):
    """A process did not start or did not become healthy; the message says which and where its log is."""


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_healthy(url, timeout=2.0):
    """True when ``url``/_stcore/health answers ``ok``."""
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=timeout) as r:
            return r.read() == b"ok"
    except OSError:
        return False


def wait_healthy(url, proc=None, timeout=60.0, what="the app"):
    """Wait until ``url`` is healthy; raise DeployError after ``timeout`` s or when ``proc`` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise DeployError(f"{what} exited with code {proc.returncode} before {url} was healthy")
        if is_healthy(url):
            return
        time.sleep(0.2)
    raise DeployError(f"{what} did not answer {url}/_stcore/health within {timeout:g} s")


def app_command(port, address="127.0.0.1", args=()):
    """The command line of one app process: headless, no file watcher (a served app does not change on disk;
    a watcher would reload modules under running sessions and costs every session its watches), and no
    traceback in the browser (``client.showErrorDetails`` none: a student sees that something failed, the
    details go to the process's log; development keeps Streamlit's default, the full traceback)."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(ROOT / "app" / "main.py"),
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--server.address",
        address,
        "--server.port",
        str(port),
        "--browser.gatherUsageStats",
        "false",
        "--client.showErrorDetails",
        "none",
        *args,
    ]


def stop(proc, sig=signal.SIGTERM, timeout=10.0):
    """Send ``sig`` to ``proc``, kill it after ``timeout`` s, and reap it."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)


@contextlib.contextmanager
def app_process(port=None, args=(), log=None, env=None):
    """Start one app process on 127.0.0.1 and yield ``(url, process)`` once healthy; stop it on exit.

    Args:
        port: its port (a free one when None).
        args: more ``streamlit run`` options, e.g. ``("--server.disconnectedSessionTTL", "30")``.
        log: a file open for writing its output (a temporary file when None, never a pipe nobody reads).
        env: extra environment variables.
    """
    port = port or free_port()
    with contextlib.ExitStack() as stack:
        log = log or stack.enter_context(tempfile.TemporaryFile())
        proc = subprocess.Popen(
            app_command(port, args=args),
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        stack.callback(stop, proc)
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, proc, what=f"the app process on port {port}")
        yield url, proc


def nginx_conf(listen, servers, prefix):
    """``deploy/nginx.conf`` filled for ``servers`` ("host:port" of each app process)."""
    name = lambda s: "st_" + re.sub(r"\W", "_", s)  # noqa: E731
    upstreams = []
    for s in servers:
        backups = "".join(f"\n        server {o} backup;" for o in servers if o != s)
        upstreams.append(f"    upstream {name(s)} {{\n        server {s};{backups}\n    }}")
    fill = {
        "PREFIX": str(prefix),
        "LISTEN": listen,
        "SERVERS": "\n".join(f"        server {s};" for s in servers),
        "ONE_UPSTREAM_PER_SERVER": "\n".join(upstreams),
        "COOKIE_MAP": "\n".join(f'        "{s}" {name(s)};' for s in servers),
    }
    return re.sub(r"@@(\w+)@@", lambda m: fill[m.group(1)], TEMPLATE.read_text())


class Cluster:
    """``processes`` app processes behind nginx on 127.0.0.1:``port``; a context manager.

    Attributes (inside the ``with``): ``url`` (nginx), ``backends`` (list of (url, process)),
    ``nginx`` (its process), ``folder`` (config, logs, pid file).
    """

    def __init__(self, processes=2, port=None, first_port=None, app_args=(), nginx=NGINX):
        if not 1 <= processes <= 32:
            raise DeployError(f"processes must be between 1 and 32, got {processes}")
        if not Path(nginx).exists():
            raise DeployError(f"nginx not found at {nginx}: apt-get install -y nginx (or set NGINX=path)")
        self.processes, self.port, self.first_port = processes, port or free_port(), first_port
        self.app_args, self.nginx_path = tuple(app_args), nginx
        self._stack = contextlib.ExitStack()

    def __enter__(self):
        try:
            return self._start()
        except BaseException:
            self._stack.close()
            raise

    def _start(self):
        stack = self._stack
        self.folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mlp-lab-nginx-")))
        ports = [self.first_port + i if self.first_port else None for i in range(self.processes)]
        self.backends = [
            stack.enter_context(
                app_process(p, self.app_args, stack.enter_context(open(self.folder / f"app{i}.log", "wb")))
            )
            for i, p in enumerate(ports)
        ]
        servers = [url.removeprefix("http://") for url, _ in self.backends]
        conf = self.folder / "nginx.conf"
        conf.write_text(nginx_conf(f"127.0.0.1:{self.port}", servers, self.folder))
        nginx_log = stack.enter_context(open(self.folder / "nginx.out", "wb"))
        cmd = [
            self.nginx_path,
            "-p",
            str(self.folder),
            "-c",
            str(conf),
            "-e",
            str(self.folder / "error.log"),
            "-g",
            "daemon off;",
        ]
        self.nginx = subprocess.Popen(cmd, stdout=nginx_log, stderr=subprocess.STDOUT)
        stack.callback(stop, self.nginx, signal.SIGQUIT)  # SIGQUIT: nginx's graceful shutdown
        self.url = f"http://127.0.0.1:{self.port}"
        wait_healthy(self.url, self.nginx, timeout=20, what=f"nginx (log: {self.folder / 'error.log'})")
        return self

    def __exit__(self, *exc):
        self._stack.close()

    @property
    def pids(self):
        return [proc.pid for _, proc in self.backends]

    def websocket_sessions(self):
        """{app process "host:port": websocket sessions it served}, from nginx's access log (closed ones)."""
        counts = {url.removeprefix("http://"): 0 for url, _ in self.backends}
        log = self.folder / "access.log"
        for line in log.read_text().splitlines() if log.exists() else []:
            m = re.search(r'"GET /_stcore/stream [^"]*" 101 .* upstream=(\S+)', line)
            if m:
                counts[m.group(1)] = counts.get(m.group(1), 0) + 1
        return counts


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--processes", type=int, default=2, help="app processes (1 to 32); about one per CPU core")
    p.add_argument("--port", type=int, default=8080, help="nginx listens on 127.0.0.1:PORT")
    p.add_argument("--first-port", type=int, default=8601, help="the app processes listen from this port on")
    p.add_argument("--app-arg", action="append", default=[], help="extra `streamlit run` option (repeatable)")
    args = p.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop everything as Ctrl-C does
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started in the background (SIGINT ignored)
    app_args = [a for arg in args.app_arg for a in arg.split(maxsplit=1)]
    try:
        with Cluster(args.processes, args.port, args.first_port, app_args) as c:
            print(f"{c.url}  ←  nginx (pid {c.nginx.pid}) → " + ", ".join(f"{u} (pid {p.pid})" for u, p in c.backends))
            print(f"config and logs in {c.folder}; Ctrl-C stops all", flush=True)
            while c.nginx.poll() is None and all(proc.poll() is None for _, proc in c.backends):
                time.sleep(1)
            print("a process exited; stopping the others", file=sys.stderr)
            return 1
    except KeyboardInterrupt:
        return 0
    except DeployError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
