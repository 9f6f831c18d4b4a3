"""A real browser: headless Chromium (Debian's package) opens every page, waits for its charts,
checks that no Streamlit error is shown, and saves a full-page screenshot to docs/screenshots/."""

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
SHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]  # fmt: skip

pytestmark = [
    pytest.mark.browser,
    pytest.mark.ci_required,
    pytest.mark.skipif(
        not (Path(CHROMIUM).exists() or shutil.which("chromium")),
        reason=f"chromium not found at {CHROMIUM}: apt-get install -y chromium",
    ),  # fmt: skip
]

# (url path, screenshot name, charts to wait for, keys of the buttons to click first; "wait" pauses 6 s)
PAGES = [
    ("", "home", 0, ()),
    ("playground", "playground", 3, ("play", "wait", "pause")),
    ("playground?dataset=digits&depth=1&width=64&lr=0.1&batch_size=32", "playground_digits", 3, ("step_epoch",) * 3),
    ("forward", "forward", 4, ()),
    ("backward", "backward", 7, ("w_bwd_train", "w_bwd_vanish")),
    (
        "playground?present=1&dataset=spiral&depth=3&width=16&activation=relu&optimizer=adam&lr=0.01",
        "projector_mode",
        3,
        ("step_epoch",) * 3,
    ),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app" / "main.py"), "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
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


@pytest.mark.parametrize("path, name, n_charts, clicks", PAGES, ids=[p[1] for p in PAGES])
def test_page_renders_without_errors(server, browser, path, name, n_charts, clicks):
    page = browser.new_page(viewport={"width": 1500, "height": 1000})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
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
    page.wait_for_timeout(1_500)  # let the charts finish drawing
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator(
        '[data-testid="stException"]'
    ).first.inner_text()
    assert not errors, errors
    # Streamlit scrolls inside its main block: grow the viewport to the content, then shoot.
    height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": 1500, "height": min(max(int(height) + 40, 1000), 6000)})
    page.wait_for_timeout(1_000)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    page.close()
