"""Two app processes behind nginx (deploy/): the reduced load test through the proxy has no error, and
the sessions are spread over both processes, each session's requests kept on its process.

Skipped where nginx is absent (``apt-get install -y nginx``); under ``CI=true`` that skip is a failure.
"""

import os
import re
from pathlib import Path

import pytest

from benchmarks.load_test import run_load
from deploy.run_local import NGINX, Cluster, nginx_conf


@pytest.fixture
def nginx():
    """Skip where nginx is absent, but fail under CI=true: CI installs it, so its absence is a broken setup."""
    if not Path(NGINX).exists():
        reason = f"nginx not found at {NGINX}: apt-get install -y nginx"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the deployment test: {reason}", pytrace=False)
        pytest.skip(reason)
    return NGINX


def test_five_sessions_spread_over_two_processes(nginx):
    with Cluster(processes=2, nginx=nginx) as cluster:
        result = run_load(cluster.url, sessions=5, timeout=90.0)
        assert result.errors == []
        assert result.completed == 5
        served = cluster.websocket_sessions()  # nginx logs a websocket when it closes
    assert sum(served.values()) == 5, served
    assert all(n >= 2 for n in served.values()), served  # round robin for new browsers: 3 and 2


def test_config_names_every_process_for_its_cookie(tmp_path):
    conf = nginx_conf("127.0.0.1:9000", ["127.0.0.1:9001", "10.0.0.2:8501"], tmp_path)
    assert re.search(r"@@\w+@@", conf) is None  # every marker filled
    assert '"10.0.0.2:8501" st_10_0_0_2_8501;' in conf
    assert "upstream st_127_0_0_1_9001 {\n        server 127.0.0.1:9001;\n        server 10.0.0.2:8501 backup;" in conf
    assert f"pid {tmp_path}/nginx.pid;" in conf
