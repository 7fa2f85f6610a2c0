"""Workflows.handle with an in-process fake bridge and fake PHP workflow worker."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from temporalio.bridge.proto.workflow_activation import workflow_activation_pb2 as wa

from rr.temporal import codec, failures
from rr.temporal.workflows import Workflows


class FakeBridge:
    def __init__(self) -> None:
        self.completions: list[Any] = []
        self.evicted: list[str] = []

    async def complete_workflow_activation(self, c: Any) -> None:
        self.completions.append(c)

    def request_workflow_eviction(self, run_id: str) -> None:
        self.evicted.append(run_id)


class FakeWW:
    """Answers each exchange with the next canned list of messages."""

    def __init__(self, answers: list[list[Any]]) -> None:
        self.answers = answers
        self.sent: list[list[Any]] = []
        self.contexts: list[bytes] = []
        self.pid = 100

    async def exchange(self, ctx: codec.Context, messages: list[Any]) -> list[Any]:
        # through the real frame codec, as the pool would carry it
        frame = codec.encode(ctx, messages, wwpid=self.pid)
        self.sent.append(codec.decode(frame))
        self.contexts.append(frame.context)
        answer = self.answers.pop(0) if self.answers else []
        return codec.decode(codec.encode(codec.Context(), answer))


def start_activation(run_id: str = "r1") -> Any:
    act = wa.WorkflowActivation(run_id=run_id)
    init = act.jobs.add().initialize_workflow
    init.workflow_type, init.workflow_id = "Greeting", "wf-1"
    init.arguments.add().CopyFrom(codec.json_payload("World"))
    return act


def workflows(ww: FakeWW, bridge: FakeBridge, **kw: Any) -> Workflows:
    return Workflows(bridge, ww, "tq", "default", {"Greeting"}, logging.getLogger("t"),
                     **kw)  # type: ignore[arg-type]


def test_start_then_an_activity_command() -> None:
    ww = FakeWW([[codec.response(0, [codec.json_payload(None)]),
                  codec.command("ExecuteActivity", {"name": "A", "options": {}}, msg_id=5)]])
    bridge = FakeBridge()
    asyncio.run(workflows(ww, bridge).handle(start_activation()))
    (sent,) = ww.sent
    assert [m.command for m in sent] == ["StartWorkflow"]
    assert sent[0].run_id and sent[0].task_queue == "tq" and sent[0].wwpid == 100
    assert ww.contexts[0].startswith(b'{"taskQueue":"tq","tickTime":"1970-01-01T00:00:00Z"')
    (c,) = bridge.completions
    assert [x.WhichOneof("variant") for x in c.successful.commands] == ["schedule_activity"]


def test_unregistered_type_fails_the_activation() -> None:
    act = start_activation()
    act.jobs[0].initialize_workflow.workflow_type = "Unknown"
    bridge = FakeBridge()
    asyncio.run(workflows(FakeWW([]), bridge).handle(act))
    assert bridge.completions[0].failed.failure.message == \
        'Workflow with the specified name "Unknown" was not registered'


def test_panic_policy_fail_workflow() -> None:
    panic = codec.command("Panic", {}, msg_id=5, failure=failures.application("boom"))
    bridge = FakeBridge()
    asyncio.run(workflows(FakeWW([[panic]]), bridge, panic_fails_workflow=True)
                .handle(start_activation()))
    (cmd,) = bridge.completions[0].successful.commands
    assert cmd.fail_workflow_execution.failure.message == "boom"
    bridge2 = FakeBridge()  # the default policy: the task fails and is retried
    asyncio.run(workflows(FakeWW([[panic]]), bridge2).handle(start_activation()))
    assert bridge2.completions[0].failed.failure.message == "boom"


def test_eviction_destroys_the_php_instance_and_a_new_ww_evicts_the_rest() -> None:
    ww = FakeWW([[], [], []])
    bridge = FakeBridge()
    wf = workflows(ww, bridge)
    asyncio.run(wf.handle(start_activation("r1")))
    asyncio.run(wf.handle(start_activation("r2")))
    evict = wa.WorkflowActivation(run_id="r1")
    evict.jobs.add().remove_from_cache.SetInParent()
    asyncio.run(wf.handle(evict))
    assert [m.command for m in ww.sent[-1]] == ["DestroyWorkflow"]
    ww.pid = 200  # the workflow worker was replaced
    timer = wa.WorkflowActivation(run_id="r2")
    timer.jobs.add().fire_timer.seq = 1
    asyncio.run(wf.handle(timer))
    assert "replaying the run" in bridge.completions[-1].failed.failure.message
    assert bridge.evicted == ["r2"]
