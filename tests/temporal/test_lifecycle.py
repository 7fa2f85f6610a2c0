"""`rr workers temporal`, `rr reset temporal` and SIGTERM with work in flight."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import rpc, run_cli, wait_for
from tests.temporal.harness import TemporalRR, client

pytestmark = [pytest.mark.php, pytest.mark.timeout(240)]


def pids(t: TemporalRR) -> list[int]:
    return [int(w["pid"]) for w in
            rpc(f"127.0.0.1:{t.rpc_port}", "informer.Workers", "temporal")["workers"]]


def test_workers_and_reset_keep_workflows(temporal_address: str, task_queue: str,
                                          tmp_path: Path) -> None:
    t = TemporalRR(temporal_address, task_queue, tmp_path, workers=2)
    with t.rr:
        t.wait_ready()
        before = pids(t)
        assert len(before) == 3  # the workflow worker, then two activity workers
        out = run_cli("workers", "-c", str(t.rr.config_path), "temporal", cwd=tmp_path)
        assert str(before[0]) in out.stdout, out.stdout + out.stderr

        async def scenario() -> Any:
            c = await client(temporal_address)
            h = await c.start_workflow("Sleeper", 3, id=f"reset-{task_queue}",
                                       task_queue=task_queue)
            await asyncio.sleep(1.5)
            res = run_cli("reset", "-c", str(t.rr.config_path), "temporal", cwd=tmp_path)
            assert res.returncode == 0, res.stdout + res.stderr
            return await asyncio.wait_for(h.result(), 90)

        assert asyncio.run(scenario()) == ["Hello before", "Hello after"]

        async def task_failures() -> int:
            c = await client(temporal_address)
            h = c.get_workflow_handle(f"reset-{task_queue}")
            return len([e async for e in h.fetch_history_events()
                        if e.HasField("workflow_task_failed_event_attributes")])

        # the cached run was evicted at the reset and replayed, without a failed task
        assert asyncio.run(task_failures()) == 0
        after = pids(t)
        assert not set(before) & set(after)  # every PHP process was replaced
        t.rr.wait_output("workflow pool restarted")


def test_sigterm_lets_a_running_activity_finish(temporal_address: str, task_queue: str,
                                                tmp_path: Path) -> None:
    """SIGTERM while an activity runs: rr waits for it (within the pool's
    destroy_timeout), reports its result to Temporal and exits 0."""
    t = TemporalRR(temporal_address, task_queue, tmp_path)
    wid = f"term-{task_queue}"
    with t.rr:
        t.wait_ready()

        async def start() -> None:
            c = await client(temporal_address)
            await c.start_workflow("HeartbeatTimeout", id=wid, task_queue=task_queue)
            await asyncio.sleep(1.5)  # Slow.silent (6 s) is running in PHP now

        asyncio.run(start())
        t.rr.signal(signal.SIGTERM)
        assert t.rr.wait(60) == 0

    async def history() -> list[Any]:
        c = await client(temporal_address)
        return [e async for e in c.get_workflow_handle(wid).fetch_history_events()]

    events = asyncio.run(history())
    # the activity either completed before the stop or timed out on its heartbeat; its
    # task was never abandoned without an outcome
    assert any(e.HasField("activity_task_started_event_attributes") for e in events)
    assert any(e.HasField("activity_task_completed_event_attributes")
               or e.HasField("activity_task_timed_out_event_attributes") for e in events)


def test_metrics(temporal_address: str, task_queue: str, tmp_path: Path) -> None:
    t = TemporalRR(temporal_address, task_queue, tmp_path, workers=2)
    with t.rr:
        t.wait_ready()
        text = t.metrics()
        assert "rr_temporal_total_workers 3.0" in text  # the workflow worker + 2
        assert "rr_temporal_workers_ready" in text
        assert "rr_activities_pool_queue_size 0.0" in text
        assert "rr_workflows_pool_queue_size 0.0" in text


def test_sdk_metrics_listener(temporal_address: str, task_queue: str, tmp_path: Path) -> None:
    """`temporal.metrics`: sdk-core's own temporal_* series on their own listener."""
    import urllib.request

    from tests.helpers import free_port
    from tests.temporal.harness import run_workflow

    port = free_port()
    t = TemporalRR(temporal_address, task_queue, tmp_path,
                   extra=f"  metrics:\n    address: 127.0.0.1:{port}\n")
    with t.rr:
        t.wait_ready()
        assert asyncio.run(run_workflow(temporal_address, "Greeting", ["M"],
                                        task_queue)) == "Hello M"

        def scrape() -> str:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                return str(r.read().decode())

        text = wait_for(lambda: "temporal_workflow_completed" in scrape() and scrape(), 30,
                        0.5, "temporal_* SDK metrics")
        assert "temporal_activity_execution_latency" in text


def test_disable_activity_workers(temporal_address: str, task_queue: str,
                                  tmp_path: Path) -> None:
    """No activity workers: readiness follows the workflow worker, workflows without
    activities still run, and no remote activity is polled."""
    t = TemporalRR(temporal_address, task_queue, tmp_path,
                   extra="  disable_activity_workers: true\n")
    with t.rr:
        t.wait_ready()
        assert len(pids(t)) == 1  # only the workflow worker

        async def scenario() -> Any:
            c = await client(temporal_address)
            assert await c.execute_workflow("Memo",
                                            id=f"noact-{task_queue}",
                                            task_queue=task_queue) == "memo set"
            h = await c.start_workflow("Greeting", "x", id=f"noact2-{task_queue}",
                                       task_queue=task_queue)
            await asyncio.sleep(3)
            desc = await h.describe()
            return desc.raw_description.pending_activities

        pending = asyncio.run(scenario())
        assert len(pending) == 1 and pending[0].attempt == 1  # scheduled, never run
