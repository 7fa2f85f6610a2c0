"""Workflows and activities written in PHP, run by rr against a real Temporal server."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.temporal.harness import TemporalRR, run_workflow

pytestmark = [pytest.mark.php, pytest.mark.timeout(180)]


def test_activity_and_timer(temporal_address: str, task_queue: str, tmp_path: Path) -> None:
    t = TemporalRR(temporal_address, task_queue, tmp_path)
    with t.rr:
        t.wait_ready()
        wid = f"greet-{task_queue}"
        result = asyncio.run(run_workflow(temporal_address, "Greeting", ["World"], task_queue,
                                          wid=wid))
        assert result == "Hello World"

        async def scheduled() -> Any:
            from tests.temporal.harness import client

            c = await client(temporal_address)
            return [e.activity_task_scheduled_event_attributes
                    async for e in c.get_workflow_handle(wid).fetch_history_events()
                    if e.HasField("activity_task_scheduled_event_attributes")]

        (attrs,) = asyncio.run(scheduled())
        assert attrs.activity_type.name == "Greeter.hello"
        assert attrs.start_to_close_timeout.seconds == 10
        assert attrs.priority.priority_key == 2


def run(address: str, t: TemporalRR, workflow: str, *args: object) -> object:
    return asyncio.run(run_workflow(address, workflow, list(args), t.task_queue))


def test_retries_follow_the_retry_policy(temporal_address: str, served: TemporalRR) -> None:
    assert run(temporal_address, served, "Retrying", 3) == "ok after 3"


def test_non_retryable_activity_failure_reaches_php(temporal_address: str,
                                                    served: TemporalRR) -> None:
    assert run(temporal_address, served, "NonRetryable") == \
        "RR\\Temporal\\ActivityFailure: BadInput: bad input"


def test_workflow_failure_in_temporal_format(temporal_address: str, served: TemporalRR) -> None:
    from temporalio.client import WorkflowFailureError
    from temporalio.exceptions import ApplicationError

    with pytest.raises(WorkflowFailureError) as ei:
        run(temporal_address, served, "Fails")
    cause = ei.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "GaveUp" and cause.message == "workflow gave up"
    assert cause.non_retryable
    assert "#0" in (cause.failure.stack_trace if cause.failure else "")  # PHP's trace


def test_child_workflow(temporal_address: str, served: TemporalRR) -> None:
    assert run(temporal_address, served, "Parent", "Kid") == "child said: Hello Kid"


def test_continue_as_new(temporal_address: str, served: TemporalRR) -> None:
    assert run(temporal_address, served, "Looping", 0, 0) == "done after 3 runs, total 3"


def test_signals_query_and_update(temporal_address: str, served: TemporalRR) -> None:
    from temporalio.client import WorkflowUpdateFailedError

    async def scenario() -> object:
        from tests.temporal.harness import client

        c = await client(temporal_address)
        h = await c.start_workflow("Signals", id=f"sig-{served.task_queue}",
                                   task_queue=served.task_queue)
        await h.signal("add", "a")
        await h.signal("add", "b")
        assert await h.query("items") == ["a", "b"]
        assert await h.execute_update("addMany", ["c", "d"]) == 4
        with pytest.raises(WorkflowUpdateFailedError):
            await h.execute_update("addMany", [])  # rejected by the validator
        assert await h.query("items") == ["a", "b", "c", "d"]
        await h.signal("done")
        return await asyncio.wait_for(h.result(), 60)

    assert asyncio.run(scenario()) == ["a", "b", "c", "d"]




def test_child_that_cannot_start_gets_go_shaped_failure(temporal_address: str,
                                                         served: TemporalRR) -> None:
    async def scenario() -> tuple[Any, Any]:
        from tests.temporal.harness import client

        c = await client(temporal_address)
        running = await c.start_workflow("Signals", id=f"dup-{served.task_queue}",
                                         task_queue=served.task_queue)
        out = await asyncio.wait_for(c.execute_workflow(
            "DuplicateChild", running.id, id=f"dupparent-{served.task_queue}",
            task_queue=served.task_queue), 60)
        trace = await running.query("__stack_trace")
        await running.signal("done")
        return out, trace

    out, trace = asyncio.run(scenario())
    assert out == "child workflow execution error / ChildWorkflowExecutionAlreadyStartedError"
    assert isinstance(trace, str) and trace  # answered by PHP's StackTrace


def test_parallel_requests(temporal_address: str, served: TemporalRR) -> None:
    assert run(temporal_address, served, "Parallel") == \
        ["Hello a", None, "Hello b", "Hello c"]
