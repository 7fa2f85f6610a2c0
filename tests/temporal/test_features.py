"""Local activities, timer cancellation, memo upserts, async activity completion."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import pytest

from tests.temporal.harness import TemporalRR, client, run_workflow

pytestmark = [pytest.mark.php, pytest.mark.timeout(180)]


def test_local_activity(temporal_address: str, served: TemporalRR) -> None:
    assert asyncio.run(run_workflow(temporal_address, "LocalGreeting", ["Local"],
                                    served.task_queue)) == "Hello Local"


def test_cancelled_timer_answers_php(temporal_address: str, served: TemporalRR) -> None:
    async def scenario() -> Any:
        c = await client(temporal_address)
        h = await c.start_workflow("CancelTimer", id=f"ct-{served.task_queue}",
                                   task_queue=served.task_queue)
        await asyncio.sleep(1)
        await h.cancel()
        return await asyncio.wait_for(h.result(), 30)

    assert asyncio.run(scenario()) == "timer cancelled: canceled"


def test_upsert_memo(temporal_address: str, served: TemporalRR) -> None:
    async def scenario() -> Any:
        c = await client(temporal_address)
        h = await c.start_workflow("Memo", id=f"memo-{served.task_queue}",
                                   task_queue=served.task_queue)
        assert await asyncio.wait_for(h.result(), 30) == "memo set"
        return await (await h.describe()).memo()

    assert asyncio.run(scenario()) == {"colour": "blue", "size": 3}


def test_async_completion_by_task_token(temporal_address: str, served: TemporalRR,
                                        tmp_path: Path) -> None:
    token_file = tmp_path / "token"

    async def scenario() -> Any:
        c = await client(temporal_address)
        h = await c.start_workflow("AsyncActivity", str(token_file),
                                   id=f"async-{served.task_queue}",
                                   task_queue=served.task_queue)
        for _ in range(200):
            if token_file.exists() and token_file.read_text():
                break
            await asyncio.sleep(0.1)
        token = base64.b64decode(token_file.read_text())
        await asyncio.sleep(0.5)  # PHP returned; the task stays open
        await c.get_async_activity_handle(task_token=token).complete("done later")
        return await asyncio.wait_for(h.result(), 30)

    assert asyncio.run(scenario()) == "done later"


def test_next_attempt_gets_the_last_heartbeat_details(temporal_address: str,
                                                      served: TemporalRR) -> None:
    assert asyncio.run(run_workflow(temporal_address, "ResumeFromHeartbeat", [],
                                    served.task_queue)) == {"resumed from": 41}


def test_typed_search_attributes(temporal_address: str, served: TemporalRR) -> None:
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest

    async def scenario() -> Any:
        c = await client(temporal_address)
        try:
            await c.operator_service.add_search_attributes(AddSearchAttributesRequest(
                namespace="default", search_attributes={
                    "RrKeyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
                    "RrInt": IndexedValueType.INDEXED_VALUE_TYPE_INT}))
        except Exception as e:  # registered by an earlier run on the same server
            if "already" not in str(e):
                raise
        h = await c.start_workflow("TypedSearchAttributes", id=f"sa-{served.task_queue}",
                                   task_queue=served.task_queue)
        assert await asyncio.wait_for(h.result(), 30) == "sa set"
        return (await h.describe()).search_attributes

    sa = asyncio.run(scenario())
    assert sa["RrKeyword"] == ["blue"] and sa["RrInt"] == [42]


def test_signal_and_cancel_external_workflows(temporal_address: str, served: TemporalRR) -> None:
    from temporalio.client import WorkflowFailureError

    async def scenario() -> tuple[Any, Any, Any]:
        c = await client(temporal_address)
        tq = served.task_queue
        target = await c.start_workflow("Signals", id=f"target-{tq}", task_queue=tq)
        victim = await c.start_workflow("CancelTimer", id=f"victim-{tq}", task_queue=tq)
        ext = await c.start_workflow("External", args=[target.id, victim.id],
                                     id=f"ext-{tq}", task_queue=tq)
        out = await asyncio.wait_for(ext.result(), 60)
        try:
            v = await asyncio.wait_for(victim.result(), 30)
        except WorkflowFailureError as e:  # the victim did not catch the cancellation
            v = type(e.cause).__name__
        return out, await asyncio.wait_for(target.result(), 30), v

    out, target_items, victim = asyncio.run(scenario())
    assert out.startswith("external done; missing target failed")
    assert target_items == ["from outside"]
    assert victim == "timer cancelled: canceled"
