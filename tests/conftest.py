"""Project-wide test settings: under CI a test marked ``ci_required`` may not be skipped.

CI installs what such tests need (Chromium, nginx); locally they are skipped, saying why, where it
is missing. Under ``CI=true`` the same skip is turned into a failure, so a missing browser cannot
pass unseen.

Every test runs NumPy, SciPy and torch on one thread, as the app does (app/main.py): the networks
are small, and on a busy CPU two threads wait on each other at every operation.
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # read once, when torch and OpenBLAS load: before any test imports

import pytest

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
