"""temporal.ReplayWorkflow & co (the RPC WorkflowReplayer uses), through the real WW."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from rr.goridge.rpc import RPCClient
from rr.temporal.proto import History, ReplayRequest, ReplayResponse
from tests.temporal.harness import TemporalRR, client

pytestmark = [pytest.mark.php, pytest.mark.timeout(180)]


def call(t: TemporalRR, method: str, req: Any) -> tuple[int, str]:
    with RPCClient(f"127.0.0.1:{t.rpc_port}", timeout=90) as c:
        r = c.call_proto(method, req, ReplayResponse)
    return int(r.status.code), str(r.status.message)


def test_replay_methods(temporal_address: str, task_queue: str, tmp_path: Path) -> None:
    t = TemporalRR(temporal_address, task_queue, tmp_path)
    with t.rr:
        t.wait_ready()

        async def done() -> tuple[str, str, list[Any]]:
            c = await client(temporal_address)
            h = await c.start_workflow("Greeting", "R", id=f"replay-{task_queue}",
                                       task_queue=task_queue)
            await asyncio.wait_for(h.result(), 60)
            desc = await h.describe()
            return h.id, desc.run_id, list((await h.fetch_history()).events)

        wid, run_id, events = asyncio.run(done())
        req = ReplayRequest()
        req.workflow_execution.workflow_id = wid
        req.workflow_execution.run_id = run_id
        req.workflow_type.name = "Greeting"
        assert call(t, "temporal.ReplayWorkflow", req) == (0, "")

        req.save_path = str(tmp_path / "history.json")
        assert call(t, "temporal.DownloadWorkflowHistory", req) == (0, "")
        assert '"eventType"' in (tmp_path / "history.json").read_text()
        assert call(t, "temporal.ReplayFromJSON", req) == (0, "")
        req.last_event_id = 5  # a partial history replays too
        assert call(t, "temporal.ReplayFromJSON", req) == (0, "")

        # a changed activity type is a non-determinism: failed precondition
        h = History()
        h.workflow_type.name = "Greeting"
        h.history.events.extend(events)
        for e in h.history.events:
            if e.HasField("activity_task_scheduled_event_attributes"):
                e.activity_task_scheduled_event_attributes.activity_type.name = "Other.thing"
        code, message = call(t, "temporal.ReplayWorkflowHistory", h)
        assert code == 9 and message, message

        empty = ReplayRequest()
        assert call(t, "temporal.ReplayWorkflow", empty) == (
            3, "run_id, workflow_id or workflow_name should not be empty")
        assert call(t, "temporal.ReplayWorkflowHistory", History()) == (
            3, "workflow_name and/or history should not be empty")
        assert t.ready() == 200
