"""The whole stack through `rr serve`: http + jobs pools, /metrics, /ready, /jobs and
`rr workers` seeing the same workers."""

from __future__ import annotations

import json
import os
import re
import signal
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import RRProcess, free_port, php_worker, rpc, run_cli, wait_for
from tests.observability.test_pool_health import gauge

pytestmark = pytest.mark.php


@dataclass
class Served:
    rr: RRProcess
    rpc: str
    http: str
    metrics: str
    status: str
    marker: Path
    pipeline: str


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    ports = [free_port() for _ in range(4)]
    marker = tmp_path / "marker"
    pipeline = f"obs-{uuid.uuid4().hex[:8]}"
    rr = RRProcess(f"""
        version: "3"
        rpc:
          listen: tcp://127.0.0.1:{ports[0]}
        server:
          command: "{php_worker('obs_app.php')}"
          env:
            OBS_MARKER: "{marker}"
        http:
          address: 127.0.0.1:{ports[1]}
          pool:
            num_workers: 2
            allocate_timeout: 5s
        jobs:
          num_pollers: 1
          pool:
            num_workers: 1
          pipelines:
            {pipeline}:
              driver: memory
              config:
                priority: 10
          consume: ["{pipeline}"]
        metrics:
          address: 127.0.0.1:{ports[2]}
        status:
          address: 127.0.0.1:{ports[3]}
        """, tmp_path)
    with rr:
        yield Served(rr, f"tcp://127.0.0.1:{ports[0]}", f"http://127.0.0.1:{ports[1]}",
                     f"http://127.0.0.1:{ports[2]}", f"http://127.0.0.1:{ports[3]}", marker,
                     pipeline)


def test_ready_jobs_and_metrics(served: Served) -> None:
    assert fetch(served.http + "/hello") == (200, "ok /hello")
    status, body = fetch(served.status + "/ready?plugin=http&plugin=jobs")
    assert status == 200
    assert {e["plugin_name"]: e["status_code"] for e in json.loads(body)} == \
        {"http": 200, "jobs": 200}
    status, body = fetch(served.status + "/jobs")
    assert status == 200
    [report] = [p for p in json.loads(body) if p["pipeline"] == served.pipeline]
    assert report["driver"] == "memory" and report["ready"] is True
    status, text = fetch(served.metrics + "/metrics")
    assert gauge(text, "rr_http_total_workers") == {"": 2.0}
    assert gauge(text, "rr_jobs_total_workers") == {"": 1.0}
    assert text.count("# TYPE rr_jobs_total_workers ") == 1  # no duplicate families
    assert gauge(text, "rr_jobs_pipeline_queue_depth") == \
        {f'{{pipeline="{served.pipeline}"}}': 0.0}


def test_rr_workers_and_metrics_agree(served: Served) -> None:
    cli = run_cli("workers", "http", "-c", str(served.rr.config_path),
                  cwd=served.rr.workdir)
    assert cli.returncode == 0, cli.stderr
    rows = re.findall(r"^\|\s*(\d+)\s*\|\s*(\w+)\s*\|", cli.stdout, re.M)
    _, text = fetch(served.metrics + "/metrics")
    states = gauge(text, "rr_http_worker_state")
    assert {f'{{pid="{pid}",state="{st}"}}' for pid, st in rows} == set(states)
    informer = rpc(served.rpc, "informer.Workers", "http")["workers"]
    assert {str(w["pid"]) for w in informer} == {pid for pid, _ in rows}


def test_ready_flips_without_http_workers(served: Served) -> None:
    served.marker.write_text("no workers")
    for w in rpc(served.rpc, "informer.Workers", "http")["workers"]:
        os.kill(w["pid"], signal.SIGKILL)
    wait_for(lambda: fetch(served.status + "/ready?plugin=http")[0] == 503, 30,
             what="http not ready")
    status, body = fetch(served.status + "/ready?plugin=http")
    assert json.loads(body) == [{"plugin_name": "http",
                                 "error_message": "internal server error, see logs",
                                 "status_code": 503}]
    assert fetch(served.status + "/ready?plugin=jobs")[0] == 200  # jobs pool untouched
    assert rpc(served.rpc, "status.Ready", {"plugin": "http"}) == {"code": 503}
    served.marker.unlink()
    wait_for(lambda: fetch(served.status + "/ready?plugin=http")[0] == 200, 60,
             what="http ready again")
    assert fetch(served.http + "/back") == (200, "ok /back")
