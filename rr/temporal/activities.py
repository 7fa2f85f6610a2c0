"""The activity side (spec/temporal.md §8, §13.7): sdk-core activity tasks → the
activities pool, outcomes → Temporal results, heartbeats → core.

Temporal owns retries: a PHP error, a crashed worker or an exec_ttl becomes a failed
attempt that the server retries under the activity's retry policy. Nothing is acked
before PHP answered, so a lost task is impossible while the bridge worker runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from temporalio.api.common.v1 import Payload, Payloads
from temporalio.bridge.proto import ActivityHeartbeat, ActivityTaskCompletion
from temporalio.bridge.proto.activity_result import activity_result_pb2 as ar
from temporalio.bridge.proto.activity_task import activity_task_pb2 as at

from rr.pool.errors import PoolError
from rr.temporal import codec, failures
from rr.temporal.info import activity_info

if TYPE_CHECKING:
    from rr.pool.pool import Pool

#: local activity type the workflow side schedules to emulate SideEffect (§13.4);
#: completed here with its own input and never sent to PHP
SIDE_EFFECT_TYPE = "__rr_side_effect"
ASYNC_COMPLETION = "doNotCompleteOnReturn"


@dataclass(slots=True)
class Running:
    is_local: bool
    cancel_reason: int | None = None
    task: asyncio.Task[None] | None = None


class HeartbeatError(Exception):
    pass


class Activities:
    """One per bridge worker (task queue); all share the activities pool."""

    def __init__(self, bridge: Any, pool: Pool, task_queue: str, namespace: str,
                 log: logging.Logger) -> None:
        self.bridge = bridge
        self.pool = pool
        self.task_queue = task_queue
        self.namespace = namespace
        self.log = log
        self.running: dict[bytes, Running] = {}

    async def poll_loop(self) -> None:
        from temporalio.bridge.worker import PollShutdownError

        while True:
            try:
                task = await self.bridge.poll_activity_task()
            except PollShutdownError:
                return
            if task.HasField("start"):
                r = Running(is_local=task.start.is_local)
                self.running[task.task_token] = r
                r.task = asyncio.get_running_loop().create_task(
                    self._run(task.task_token, task.start, r))
            elif task.HasField("cancel"):
                r0 = self.running.get(task.task_token)
                if r0 is not None:
                    r0.cancel_reason = task.cancel.reason

    async def drain(self, timeout: float) -> None:
        tasks = [r.task for r in self.running.values() if r.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    # -- one invocation --------------------------------------------------------------------
    async def _run(self, token: bytes, start: Any, r: Running) -> None:
        try:
            result = await self._invoke(token, start, r)
        except Exception as e:  # never lose a task: report whatever went wrong
            self.log.exception("temporal: activity failed inside rr")
            result = _failed(failures.application(f"rr: {e}"))
        try:
            await self.bridge.complete_activity_task(
                ActivityTaskCompletion(task_token=token, result=result))
        except Exception:
            self.log.exception("temporal: cannot complete activity task")
        finally:
            self.running.pop(token, None)

    async def _invoke(self, token: bytes, start: Any, r: Running) -> Any:
        if start.is_local and start.activity_type == SIDE_EFFECT_TYPE:
            value = start.input[0] if start.input else Payload(
                metadata={"encoding": b"binary/null"})
            return ar.ActivityExecutionResult(completed=ar.Success(result=value))
        info = activity_info(token, start, self.task_queue, self.namespace)
        name = "InvokeLocalActivity" if start.is_local else "InvokeActivity"
        opts: dict[str, Any] = {"name": start.activity_type, "info": info}
        if start.heartbeat_details:
            opts["heartbeatDetails"] = len(start.heartbeat_details)
        header = None
        if start.header_fields:
            from temporalio.api.common.v1 import Header

            header = Header(fields=dict(start.header_fields))
        msg = codec.command(name, opts, payloads=[*start.input, *start.heartbeat_details],
                            header=header)
        ctx = codec.Context(task_queue=self.task_queue)
        try:
            reply = await self.pool.exec(codec.encode(ctx, [msg]))
            answer = codec.decode(reply)
        except (PoolError, codec.EnvelopeError) as e:
            return _failed(failures.application(str(e)))
        if len(answer) != 1:
            what = "invalid local activity worker response" if start.is_local \
                else "invalid activity worker response"
            return _failed(failures.application(what))
        return self._outcome(answer[0], r)

    def _outcome(self, m: Any, r: Running) -> Any:
        if not m.HasField("failure"):
            pls = codec.payloads(m)
            value = pls[0] if pls else Payload(metadata={"encoding": b"binary/null"})
            return ar.ActivityExecutionResult(completed=ar.Success(result=value))
        f = m.failure
        if f.message == ASYNC_COMPLETION and not r.is_local:
            return ar.ActivityExecutionResult(will_complete_async=ar.WillCompleteAsync())
        if failures.is_canceled(f):
            if r.cancel_reason is not None:
                return ar.ActivityExecutionResult(cancelled=ar.Cancellation(failure=f))
            wrapped = failures.application(f"unexpected activity cancel error: {f.message}")
            wrapped.cause.CopyFrom(f)
            return _failed(wrapped)
        return _failed(f)

    # -- heartbeats ------------------------------------------------------------------------
    def heartbeat(self, token: bytes, details: bytes) -> dict[str, bool] | None:
        """None when the token is not a running remote activity of this worker."""
        r = self.running.get(token)
        if r is None or r.is_local:
            return None
        pls = Payloads()
        if details:
            with contextlib.suppress(Exception):
                pls = Payloads.FromString(details)
        self.bridge.record_activity_heartbeat(
            ActivityHeartbeat(task_token=token, details=list(pls.payloads)))
        paused = r.cancel_reason == at.ActivityCancelReason.PAUSED
        return {"canceled": r.cancel_reason is not None and not paused, "paused": paused}


def _failed(f: Any) -> Any:
    return ar.ActivityExecutionResult(failed=ar.Failure(failure=f))
