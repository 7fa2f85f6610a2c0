"""The jobs pool changing under load: `rr reset` replaces every worker and
informer.AddWorker adds one while jobs flow; no job is lost or run twice, and the added
worker runs jobs in parallel with the others (rr runs one poller per worker, so a new
worker needs a poller of its own)."""

from __future__ import annotations

import time
from pathlib import Path

from rr.jobs.proto import jobs_pb2 as pb
from tests.helpers import rpc
from tests.jobs.e2e import MEMORY, JobsServer


def _push(srv: JobsServer, ids: list[str], payload: bytes) -> None:
    batch = pb.PushBatchRequest()
    for job_id in ids:
        batch.jobs.add(job="J", id=job_id, payload=payload, options=pb.Options(pipeline="p"))
    srv.call("jobs.PushBatch", batch)


def _most_working_at_once(srv: JobsServer, seconds: float) -> int:
    most = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and most < 3:
        workers = rpc(srv.address, "informer.Workers", "jobs")["workers"]
        most = max(most, sum(w["statusStr"] == "working" for w in workers))
        time.sleep(0.02)
    return most


def test_reset_and_add_worker_while_jobs_flow(tmp_path: Path) -> None:
    with JobsServer(tmp_path, MEMORY, workers=2) as srv:
        quick = [f"q{i}" for i in range(300)]
        _push(srv, quick, b"sleep:5")
        srv.wait_received(20)
        assert rpc(srv.address, "resetter.Reset", "jobs") is True
        srv.wait_idle("p", timeout=60)
        counts = srv.counts()
        assert set(counts) == set(quick)
        assert [i for i, n in counts.items() if n != 1] == []

        rpc(srv.address, "informer.AddWorker", "jobs")  # replies false, as RoadRunner
        assert len(rpc(srv.address, "informer.Workers", "jobs")["workers"]) == 3
        slow = [f"s{i}" for i in range(12)]
        _push(srv, slow, b"sleep:300")
        assert _most_working_at_once(srv, 5.0) == 3
        srv.wait_idle("p", timeout=60)
        assert all(srv.counts()[i] == 1 for i in slow)
