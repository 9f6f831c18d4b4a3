"""Under CI a skipped ``ci_required`` test fails the run (tests/conftest.py); locally it is a skip with its reason."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CONFTEST = Path(__file__).with_name("conftest.py")
SKIPPED = """
import pytest
pytestmark = [pytest.mark.ci_required, pytest.mark.skipif(True, reason="chromium not found")]

def test_needs_a_browser():
    pass
"""


@pytest.mark.parametrize("ci, code, words", [("", 0, "SKIPPED"), ("true", 1, "skipped under CI, where it must run")])
def test_a_skip_fails_only_under_ci(tmp_path, ci, code, words):
    shutil.copy(CONFTEST, tmp_path / "conftest.py")
    (tmp_path / "test_skipped.py").write_text(SKIPPED)
    env = {**os.environ, "CI": ci, "PYTHONPATH": str(CONFTEST.parents[1])}  # the conftest imports core
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert out.returncode == code, out.stdout
    assert words in out.stdout and "chromium not found" in out.stdout


def test_tests_run_torch_on_one_thread_as_the_app_does():
    import torch

    assert torch.get_num_threads() == 1
