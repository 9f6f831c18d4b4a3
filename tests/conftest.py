"""Project-wide test settings: under CI a test marked ``ci_required`` may not be skipped.

CI installs what such tests need (Chromium, nginx); locally they are skipped, saying why, where it
is missing. Under ``CI=true`` the same skip is turned into a failure, so a missing browser cannot
pass unseen.

Every test runs NumPy, SciPy and torch on one thread, as the app does (``core.threads.limit_process``):
the networks are small, and on a busy CPU two threads wait on each other at every operation. Every chart
a page draws in a test is validated against Vega-Lite's schema (``app.charts.spec``), which the app skips.
"""

import os

from core.threads import limit_process

limit_process()  # before any test imports torch, which reads OMP_NUM_THREADS once
os.environ["MLP_LAB_VALIDATE_CHARTS"] = "1"  # every chart a page draws is checked against Vega-Lite's schema

import pytest  # noqa: E402

UNDER_CI = os.environ.get("CI", "").lower() in ("true", "1")


def pytest_configure(config):
    config.addinivalue_line("markers", "ci_required: must run under CI (CI=true): a skip there is a failure")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if UNDER_CI and report.skipped and item.get_closest_marker("ci_required"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI, where it must run: {reason}"
