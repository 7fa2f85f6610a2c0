"""Configs rr must refuse at start: one line naming the key, exit code 1, nothing served."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import RRProcess, free_port, php_worker

BAD = {
    "port out of range": ("""
http:
  address: 127.0.0.1:87535
  pool: {num_workers: 1}
""", "http.address: port out of range (0-65535) in '127.0.0.1:87535'"),
    "amqp pipeline without the amqp section": ("""
jobs:
  consume: [q]
  pipelines:
    q:
      driver: amqp
      config: {queue: q}
""", "jobs.pipelines.q: no global amqp configuration"),
    "unknown driver": ("""
jobs:
  pipelines:
    q:
      driver: rabbit
      config: {priority: 1}
""", "jobs.pipelines.q.driver: unknown driver 'rabbit'"),
    "pipeline without a driver": ("""
jobs:
  pipelines:
    q:
      config: {priority: 1}
""", "jobs.pipelines.q.driver: no driver given"),
    "negative allocate_timeout": ("""
http:
  address: 127.0.0.1:{port}
  pool:
    num_workers: 1
    allocate_timeout: -5s
""", "http.pool.allocate_timeout: expected a duration of 0 or more, got '-5s'"),
    "negative grace period": ("""
endure:
  grace_period: -1s
""", "endure.grace_period: expected a duration of 0 or more"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_config_is_one_line_naming_the_key(tmp_path: Path, case: str) -> None:
    body, message = BAD[case]
    rr = RRProcess(f"""
version: "3"
server:
  command: "{php_worker('http_app.php')}"
{body.replace("{port}", str(free_port()))}
""", tmp_path)
    rr.start(wait=False)
    try:
        assert rr.wait(60) == 1, rr.output
    finally:
        rr.kill()
    lines = rr.output.splitlines()
    errors = [i for i, x in enumerate(lines) if x.startswith(("error:", "handle_serve"))]
    assert len(errors) == 1, rr.output
    # RoadRunner's "Init error:" form puts the message on the next (tab-indented) line
    assert message in " ".join(lines[errors[0]:errors[0] + 2]), rr.output
    assert "Traceback" not in rr.output and "RoadRunner server started" not in rr.output
