"""A broker cut as the operator reads it in rr's log: one line per event with its reason,
no library tracebacks, no empty reasons."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from tests.drivers.proxy import TCPProxy
from tests.jobs.e2e import JobsServer

pytestmark = [pytest.mark.php]


def test_amqp_cut_is_logged_in_one_line_with_the_reason(tmp_path: Path,
                                                         rabbitmq_port: int) -> None:
    queue = f"outage-{uuid.uuid4().hex[:8]}"
    with TCPProxy("127.0.0.1", rabbitmq_port) as proxy:
        srv = JobsServer(tmp_path, f"""
consume: [q]
pipelines:
  q:
    driver: amqp
    config: {{queue: {queue}, routing_key: {queue}, exchange: {queue}, queue_auto_delete: true}}
""", extra=f"amqp:\n  addr: amqp://guest:guest@{proxy.address}/\n")
        with srv:
            srv.push("q", "ack")
            srv.wait_received(1)
            proxy.cut()
            srv.rr.wait_output("redialing", timeout=30)
            srv.rr.wait_output("redial attempt 2 failed", timeout=60)
            proxy.restore()
            srv.rr.wait_output("reconnected after", timeout=90)
            srv.push("q", "ack")
            srv.wait_received(2, timeout=60)
    out = srv.rr.output
    assert "Traceback" not in out, out
    assert "aiormq" not in out, out
    closed = [x for x in out.splitlines() if "closed (" in x and "redialing" in x]
    assert len(closed) == 1, out
    for line in out.splitlines():
        m = re.search(r"redial attempt \d+ failed: (.*?)(\"|$)", line)
        if m:
            assert m.group(1).strip(), line
