"""Activity heartbeats, cancellation reaching PHP, heartbeat timeouts, dead workers."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import rpc
from tests.temporal.harness import TemporalRR, client, run_workflow

pytestmark = [pytest.mark.php, pytest.mark.timeout(180)]


def test_cancellation_reaches_php_through_heartbeats(temporal_address: str, served: TemporalRR,
                                                     tmp_path: Path) -> None:
    marker = tmp_path / "cancelled.txt"

    async def scenario() -> Any:
        c = await client(temporal_address)
        h = await c.start_workflow("CancelActivity", str(marker),
                                   id=f"cancel-{served.task_queue}",
                                   task_queue=served.task_queue)
        await asyncio.sleep(2)  # the activity is heartbeating by now
        await h.cancel()
        return await asyncio.wait_for(h.result(), 60)

    assert asyncio.run(scenario()) == "cancelled"
    assert marker.read_text() == "cancelled"  # PHP's heartbeat() threw


def test_heartbeat_timeout(temporal_address: str, served: TemporalRR) -> None:
    result = asyncio.run(run_workflow(temporal_address, "HeartbeatTimeout", [],
                                      served.task_queue))
    assert result == "timeout: RR\\Temporal\\TimeoutFailure"


def test_heartbeat_rpc_rejects_unknown_tokens(served: TemporalRR) -> None:
    from rr.goridge.rpc import RPCClientError

    with pytest.raises(RPCClientError, match="heartbeat on non running activity"):
        rpc(f"127.0.0.1:{served.rpc_port}", "temporal.RecordActivityHeartbeat",
            {"taskToken": "AAAA", "details": ""})
    names = rpc(f"127.0.0.1:{served.rpc_port}", "temporal.GetWorkflowNames", True)
    assert "Greeting" in names and "Signals" in names
    assert "Greeter.hello" in rpc(f"127.0.0.1:{served.rpc_port}", "temporal.GetActivityNames",
                                  True)
    assert rpc(f"127.0.0.1:{served.rpc_port}", "temporal.UpdateAPIKey", "") is False
    assert rpc(f"127.0.0.1:{served.rpc_port}", "temporal.UpdateAPIKey", "key-2") is True


def test_many_concurrent_workflows(temporal_address: str, served: TemporalRR) -> None:
    async def scenario() -> list[Any]:
        c = await client(temporal_address)
        handles = await asyncio.gather(*(
            c.start_workflow("Retrying", 1, id=f"many-{served.task_queue}-{i}",
                             task_queue=served.task_queue) for i in range(200)))
        return await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 150)

    results = asyncio.run(scenario())
    assert results == ["ok after 1"] * 200


def test_killed_activity_worker_is_a_retried_attempt(temporal_address: str,
                                                     served: TemporalRR) -> None:
    result = asyncio.run(run_workflow(temporal_address, "CrashOnce", [], served.task_queue))
    assert result == "survived on attempt 2"
