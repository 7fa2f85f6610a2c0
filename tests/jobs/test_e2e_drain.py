"""SIGTERM and the memory driver: the backlog runs within the grace period, what cannot
run is reported exactly, and with the spool option nothing is lost across a restart.

Each run is a delivery ledger: 2 000 uniquely numbered jobs pushed to a slow consumer,
SIGTERM half-way, then pushed vs. seen by a worker."""

from __future__ import annotations

import json
import re
import signal
import uuid
from pathlib import Path

import pytest

from rr.goridge.rpc import RPCClientError
from rr.jobs.proto import jobs_pb2 as pb
from tests.helpers import wait_for
from tests.jobs.e2e import JobsServer

pytestmark = [pytest.mark.php, pytest.mark.slow]

JOBS = 2000


def jobs_yaml(extra: str = "") -> str:
    return f"""
consume: [p]
pipelines:
  p:
    driver: memory
    config:
      priority: 10
      {extra}
"""


def push_all(srv: JobsServer, payload: str, n: int = JOBS) -> list[str]:
    ids = [f"job-{i}-{uuid.uuid4().hex[:6]}" for i in range(n)]
    for start in range(0, n, 500):
        batch = [pb.Job(job="App\\Jobs\\Ledger", id=i, payload=payload.encode(),
                        options=pb.Options(pipeline="p")) for i in ids[start:start + 500]]
        srv.call("jobs.PushBatch", pb.PushBatchRequest(jobs=batch))
    return ids


def report(case: str, ids: list[str], srv: JobsServer, **more: int) -> None:
    """One ``LEDGER {...}`` line (shown with ``-s``), the figures docs/guarantees.md cites."""
    seen = srv.counts()
    print("LEDGER", json.dumps({"case": case, "pushed": len(ids), "seen_unique": len(seen),
                                "deliveries": sum(seen.values()),
                                "lost": len(set(ids) - set(seen)), **more}))


def server(tmp: Path, grace: str, extra: str = "") -> JobsServer:
    return JobsServer(tmp, jobs_yaml(extra), extra=f"endure:\n  grace_period: {grace}\n")


def test_backlog_that_fits_the_grace_period_is_run_in_full(tmp_path: Path) -> None:
    srv = server(tmp_path, "60s")
    with srv:
        ids = push_all(srv, "sleep:4")  # ~4 s of work for two workers
        srv.wait_received(200, timeout=60)
        srv.rr.signal(signal.SIGTERM)
        srv.rr.wait_output("running the backlog before stopping", timeout=30)
        with pytest.raises(RPCClientError, match="refused: rr is stopping"):
            srv.push("p", "ack")
        assert srv.rr.wait(timeout=90) == 0, srv.rr.output
    seen = srv.counts()
    report("memory, SIGTERM, backlog fits the 60s grace period", ids, srv)
    assert set(ids) - set(seen) == set(), srv.rr.output[-3000:]
    assert "push refused: rr is stopping" in srv.rr.output
    assert "jobs lost" not in srv.rr.output


def test_backlog_beyond_the_grace_period_is_reported_exactly(tmp_path: Path) -> None:
    srv = server(tmp_path, "3s")
    with srv:
        ids = push_all(srv, "sleep:25")  # ~25 s of work for two workers
        srv.wait_received(50, timeout=60)
        srv.rr.signal(signal.SIGTERM)
        srv.rr.wait(timeout=60)
    out = srv.rr.output
    lines = [x for x in out.splitlines() if "jobs lost (memory pipeline stopped)" in x]
    assert len(lines) == 1, out[-3000:]
    count_m = re.search(r"count=(\d+)", lines[0])
    ids_m = re.search(r"ids=([^\s\"]+)", lines[0])
    assert count_m and ids_m, lines[0]
    count = int(count_m.group(1))
    reported = set(ids_m.group(1).split(","))
    unseen = set(ids) - set(srv.counts())
    report("memory, SIGTERM, backlog beyond the 3s grace period", ids, srv,
           reported_in_log=count)
    assert count == len(reported) == len(unseen) > 0
    assert reported == unseen


def test_spool_keeps_the_backlog_across_a_restart(tmp_path: Path) -> None:
    spool = tmp_path / "p.spool"
    srv = server(tmp_path, "2s", extra=f"spool: {spool}")
    with srv:
        ids = push_all(srv, "sleep:25")
        srv.wait_received(50, timeout=60)
        srv.rr.signal(signal.SIGTERM)
        assert srv.rr.wait(timeout=60) == 0, srv.rr.output
    assert "jobs written to the spool file" in srv.rr.output
    assert spool.exists()
    unseen = set(ids) - set(srv.counts())
    assert len(spool.read_text().splitlines()) == len(unseen) > 0
    # second life: fast jobs now; the spooled ones are run, then the file is gone
    with server(tmp_path, "30s", extra=f"spool: {spool}") as again:
        again.rr.wait_output("jobs loaded from the spool file")
        wait_for(lambda: set(ids) <= set(again.counts()), timeout=120,
                 what="every job seen once across both runs")
        again.rr.signal(signal.SIGTERM)
        assert again.rr.wait(timeout=60) == 0
    assert not spool.exists()
    report("memory + spool, SIGTERM with a 2s grace period, restart", ids, again,
           spooled=len(unseen))
    assert set(ids) - set(again.counts()) == set()


def test_a_broken_spool_file_is_a_clear_start_error(tmp_path: Path) -> None:
    spool = tmp_path / "p.spool"
    spool.write_text('{"id": "x"}\n')
    srv = server(tmp_path, "2s", extra=f"spool: {spool}")
    srv.rr.start(wait=False)
    assert srv.rr.wait(timeout=60) == 1
    assert "config.spool" in srv.rr.output and "line 1" in srv.rr.output
    assert spool.read_text() == '{"id": "x"}\n'
