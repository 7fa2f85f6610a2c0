"""Activity invocation and outcomes with an in-process fake pool (no PHP, no server)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from temporalio.bridge.proto.activity_task import activity_task_pb2 as at

from rr.pool.errors import SoftJobError
from rr.pool.payload import Payload as WorkerPayload
from rr.temporal import codec, failures
from rr.temporal.activities import SIDE_EFFECT_TYPE, Activities, Running


class FakePool:
    def __init__(self, answer: list[Any] | Exception) -> None:
        self.answer = answer
        self.requests: list[WorkerPayload] = []

    async def exec(self, p: WorkerPayload) -> WorkerPayload:
        self.requests.append(p)
        if isinstance(self.answer, Exception):
            raise self.answer
        return codec.encode(codec.Context(), self.answer)


class FakeBridge:
    def __init__(self) -> None:
        self.heartbeats: list[Any] = []

    def record_activity_heartbeat(self, h: Any) -> None:
        self.heartbeats.append(h)


def start(activity_type: str = "A.b", is_local: bool = False) -> Any:
    s = at.Start(activity_type=activity_type, activity_id="1", attempt=1, is_local=is_local,
                 workflow_type="W", workflow_namespace="default")
    s.workflow_execution.workflow_id = "wf"
    s.input.add().CopyFrom(codec.json_payload("in"))
    s.heartbeat_details.add().CopyFrom(codec.json_payload(7))
    s.start_to_close_timeout.FromSeconds(10)
    return s


def invoke(answer: list[Any] | Exception, s: Any = None,
           running: Running | None = None) -> tuple[Any, FakePool]:
    pool = FakePool(answer)
    acts = Activities(FakeBridge(), pool, "tq", "default", logging.getLogger("t"))  # type: ignore[arg-type]
    r = running or Running(is_local=False)
    return asyncio.run(acts._invoke(b"tok", s or start(), r)), pool


def test_request_shape() -> None:
    result, pool = invoke([codec.response(0, [codec.json_payload("out")])])
    assert json.loads(result.completed.result.data) == "out"
    (req,) = pool.requests
    assert req.context == b'{"taskQueue":"tq","rr_id":"","continue_as_new_suggested":false}'
    (m,) = codec.decode(req)
    opts = json.loads(m.options)
    assert m.command == "InvokeActivity" and opts["name"] == "A.b"
    assert opts["heartbeatDetails"] == 1 and len(m.payloads.payloads) == 2
    assert opts["info"]["TaskToken"] == "dG9r" and opts["info"]["StartToCloseTimeout"] == 10**10


def test_async_completion_and_cancellation_outcomes() -> None:
    async_fail = codec.response(0, failure=failures.application("doNotCompleteOnReturn"))
    assert invoke([async_fail])[0].HasField("will_complete_async")
    cancel = codec.response(0, failure=failures.canceled())
    wrapped = invoke([cancel])[0].failed.failure
    assert wrapped.message.startswith("unexpected activity cancel error")
    requested = Running(is_local=False, cancel_reason=at.ActivityCancelReason.CANCELLED)
    assert invoke([cancel], running=requested)[0].HasField("cancelled")


def test_bad_answers_are_retryable_failures() -> None:
    ok = codec.response(0, [codec.json_payload(1)])
    two = invoke([ok, ok])[0].failed.failure
    assert two.message == "invalid activity worker response"
    assert two.application_failure_info.type == "Error"
    assert not two.application_failure_info.non_retryable
    local = invoke([ok, ok], start(is_local=True))[0].failed.failure
    assert local.message == "invalid local activity worker response"
    soft = invoke(SoftJobError("PHP Fatal error"))[0].failed.failure
    assert soft.message.endswith("SoftJobError: PHP Fatal error")  # RoadRunner error text


def test_side_effect_never_reaches_php() -> None:
    result, pool = invoke(RuntimeError("must not be called"), start(SIDE_EFFECT_TYPE, True))
    assert json.loads(result.completed.result.data) == "in" and pool.requests == []


def test_heartbeat_flags() -> None:
    bridge = FakeBridge()
    acts = Activities(bridge, FakePool([]), "tq", "default", logging.getLogger("t"))  # type: ignore[arg-type]
    assert acts.heartbeat(b"nope", b"") is None
    acts.running[b"tok"] = Running(is_local=False)
    details = codec.as_payloads([codec.json_payload(3)]).SerializeToString()
    assert acts.heartbeat(b"tok", details) == {"canceled": False, "paused": False}
    assert json.loads(bridge.heartbeats[0].details[0].data) == 3
    acts.running[b"tok"].cancel_reason = at.ActivityCancelReason.PAUSED
    assert acts.heartbeat(b"tok", b"") == {"canceled": False, "paused": True}
    acts.running[b"tok"].cancel_reason = at.ActivityCancelReason.TIMED_OUT
    assert acts.heartbeat(b"tok", b"") == {"canceled": True, "paused": False}
    acts.running[b"loc"] = Running(is_local=True)
    assert acts.heartbeat(b"loc", b"") is None
