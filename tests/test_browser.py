"""A real browser: headless Chromium (Debian's package) opens every page, clicks what a visitor would,
waits for its charts, and fails on any error the page shows or the browser logs.

Screenshots go to a temporary folder; with ``SCREENSHOTS=docs/screenshots`` (or any folder) in the
environment they are written there instead — that is how the README's pictures are refreshed.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Streamlit probes its base path when a page is opened by its own address; the 404s are expected.
EXPECTED_404 = ("/_stcore/health", "/_stcore/host-config")
# An unknown address is reported by Streamlit itself on the console (the page says so too).
EXPECTED_CONSOLE = {"unknown_page": "does not seem to exist"}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.ci_required,
    pytest.mark.skipif(
        not (Path(CHROMIUM).exists() or shutil.which("chromium")),
        reason=f"chromium not found at {CHROMIUM}: apt-get install -y chromium",
    ),
]

# (url path, screenshot name, charts to wait for, keys of the buttons to click first; "wait" pauses 6 s)
PAGES = [
    ("", "home", 0, ()),
    ("playground", "playground", 3, ("play", "wait", "pause")),
    ("playground?dataset=digits&depth=1&width=64&lr=0.1&batch_size=32", "playground_digits", 2, ("step_epoch",) * 3),
    ("forward", "forward", 4, ()),
    ("forward?dataset=spiral&depth=2&width=6&activation=relu&batch_norm=1", "forward_batchnorm", 4, ()),
    ("backward", "backward", 7, ("w_bwd_train", "w_bwd_vanish")),
    ("backward?dataset=spiral&depth=2&width=6&activation=relu&batch_norm=1", "backward_batchnorm", 5, ()),
    (
        "batch-norm?dataset=digits&depth=6&width=32&activation=relu&lr=1&batch_size=32",
        "batchnorm",
        5,
        ("w_bn_sweep", "w_bn_course"),
    ),
    ("saddle-points", "saddle", 4, ("w_sad_stall",)),
    ("jacobians?dataset=digits&batch_norm=1&activation=elu&depth=1&width=32", "jacobians", 9, ()),
    ("backends?batch_norm=1", "backends", 7, ("w_cmp_time",)),
    ("hessian?dataset=digits", "hessian", 7, ("w_hes_train",)),
    ("checkpointing", "checkpointing", 5, ("w_ckpt_run",)),
    ("course", "course", 12, ("w_course_run_all",)),
    ("playground?depth=4&width=64&activation=relu&lr=10", "diverged", 2, ("step_epoch",)),
    ("nonsense-page", "unknown_page", 0, ()),
    (
        "playground?present=1&dataset=spiral&depth=3&width=16&activation=relu&optimizer=adam&lr=0.01",
        "projector_mode",
        3,
        ("step_epoch",) * 3,
    ),
    ("forward?present=1", "projector_forward", 4, ()),
]


# What no lecturer should see: a chart drawn past its column, a table, equation, table of numbers or metric cut.
# Returns one line per problem ("chart 3 (after 'Loss per step') reaches 48 px past its column").
LAYOUT_PROBLEMS = """() => {
  const problems = [];
  const main = document.querySelector('[data-testid="stMainBlockContainer"]');
  const mainRight = main.getBoundingClientRect().right;
  const where = (el) => {
    let node = el.closest('[data-testid="stElementContainer"]') || el;
    const headings = [...document.querySelectorAll('h1, h2, h3, summary')].filter(
      (h) => h.compareDocumentPosition(node) & Node.DOCUMENT_POSITION_FOLLOWING);
    const last = headings[headings.length - 1];
    return last ? ` (after '${last.innerText.trim().slice(0, 40)}')` : '';
  };
  const limitOf = (el) => {
    const box = el.closest('[data-testid="stElementContainer"]') || el.parentElement;
    return Math.min(box.getBoundingClientRect().right, mainRight);
  };
  document.querySelectorAll('[data-testid="stVegaLiteChart"]').forEach((chart, i) => {
    const drawn = chart.querySelector('canvas, svg.marks');
    if (!drawn || drawn.getBoundingClientRect().width === 0) return;
    const over = drawn.getBoundingClientRect().right - limitOf(chart);
    if (over > 2) problems.push(`chart ${i + 1}${where(chart)} reaches ${Math.round(over)} px past its column`);
  });
  const cut = (selector, what) => document.querySelectorAll(selector).forEach((el) => {
    if (el.getBoundingClientRect().width === 0) return;
    const over = Math.max(el.scrollWidth - el.clientWidth, el.getBoundingClientRect().right - limitOf(el));
    const text = el.innerText.trim().slice(0, 30);
    if (over > 2) problems.push(`${what}${where(el)} is cut by ${Math.round(over)} px: '${text}'`);
  });
  cut('[data-testid="stTable"]', 'a table');
  cut('.katex-display', 'an equation');
  cut('[data-testid="stMetricValue"] > div', 'a metric');
  cut('[data-testid="stDataFrame"] .dvn-scroller', 'a table of numbers');
  return problems;
}"""


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    folder = os.environ.get("SCREENSHOTS")
    if not folder:
        return tmp_path_factory.mktemp("screenshots")
    path = Path(folder) if Path(folder).is_absolute() else ROOT / folder
    path.mkdir(parents=True, exist_ok=True)
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "app" / "main.py"),
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("the streamlit server did not answer its health check within 60 s")
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"), args=ARGS
        )
        yield b
        b.close()


def wait_idle(page, timeout=60_000):
    """Wait until the script has finished running (Streamlit's status widget is gone)."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout)
    page.wait_for_timeout(500)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout, polling=200
    )


def click(page, key):
    page.locator(f".st-key-{key} button").first.click()
    page.wait_for_timeout(300)
    wait_idle(page)


def watch(page, expected=None):
    """Collect every problem the browser sees: console errors, failed requests, uncaught page errors."""
    problems = []

    def on_console(msg):
        if msg.type != "error" or (expected and expected in msg.text):
            return
        if not any(probe in (msg.location or {}).get("url", "") for probe in EXPECTED_404):
            problems.append(f"console: {msg.text}")

    def on_response(response):
        if response.status >= 400 and not response.url.endswith(EXPECTED_404):
            problems.append(f"HTTP {response.status}: {response.url}")

    page.on("console", on_console)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} ({r.failure})"))
    page.on("response", on_response)
    return problems


@pytest.mark.parametrize("path, name, n_charts, clicks", PAGES, ids=[p[1] for p in PAGES])
def test_page_renders_without_errors(server, browser, shots, path, name, n_charts, clicks):
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    problems = watch(page, EXPECTED_CONSOLE.get(name))
    page.goto(f"{server}/{path}", timeout=60_000)
    wait_idle(page)
    for button in clicks:
        if button == "wait":
            page.wait_for_timeout(6_000)
        else:
            click(page, button)
    if n_charts:
        page.wait_for_function(
            f"() => document.querySelectorAll('.vega-embed canvas, .vega-embed svg').length >= {n_charts}",
            timeout=60_000,
        )
    page.mouse.move(1_439, 0)  # no tooltip of the last clicked button in the picture
    page.wait_for_timeout(1_500)  # let the charts finish drawing
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, exceptions.first.inner_text()
    assert not problems, problems
    # Streamlit scrolls inside its main block: grow the viewport to the content, then shoot.
    height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": 1440, "height": min(max(int(height) + 40, 1000), 7000)})
    page.wait_for_timeout(1_000)
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    page.close()
