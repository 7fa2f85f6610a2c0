"""The jobs pool with pool.dynamic_allocator: a backlog grows the pool to num_workers +
max_workers (and the pollers follow it), idle time shrinks it back, `rr reset` with the
extra workers alive loses no job."""

from __future__ import annotations

import time
from pathlib import Path

from rr.jobs.proto import jobs_pb2 as pb
from tests.helpers import rpc, wait_for
from tests.jobs.e2e import MEMORY, JobsServer

DYNAMIC = "dynamic_allocator: {max_workers: 2, spawn_rate: 2, idle_timeout: 1s}"


def _push(srv: JobsServer, ids: list[str], payload: bytes) -> None:
    batch = pb.PushBatchRequest()
    for job_id in ids:
        batch.jobs.add(job="J", id=job_id, payload=payload, options=pb.Options(pipeline="p"))
    srv.call("jobs.PushBatch", batch)


def _workers(srv: JobsServer) -> list[dict[str, object]]:
    return rpc(srv.address, "informer.Workers", "jobs")["workers"]  # type: ignore[no-any-return]


def test_backlog_grows_pool_to_max_then_idle_shrinks(tmp_path: Path) -> None:
    with JobsServer(tmp_path, MEMORY, workers=1, pool=DYNAMIC) as srv:
        slow = [f"s{i}" for i in range(16)]
        _push(srv, slow, b"sleep:700")
        most_workers = most_working = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(srv.received()) < len(slow):
            ws = _workers(srv)
            most_workers = max(most_workers, len(ws))
            most_working = max(most_working, sum(w["statusStr"] == "working" for w in ws))
            time.sleep(0.05)
        srv.wait_idle("p", timeout=60)
        assert most_workers == 3  # 1 + max_workers 2, never more
        assert most_working == 3  # the extra workers got pollers of their own
        assert all(srv.counts()[i] == 1 for i in slow)
        wait_for(lambda: len(_workers(srv)) == 1, 30, what="shrink to num_workers")

        # rr reset while extra workers are alive and jobs flow: nothing lost or doubled
        more = [f"m{i}" for i in range(12)]
        _push(srv, more, b"sleep:400")
        wait_for(lambda: len(_workers(srv)) == 3, 30, what="growth before reset")
        assert rpc(srv.address, "resetter.Reset", "jobs") is True
        srv.wait_idle("p", timeout=60)
        counts = srv.counts()
        assert all(counts[i] == 1 for i in more), counts
        assert 1 <= len(_workers(srv)) <= 3
