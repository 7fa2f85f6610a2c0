"""The replay RPC methods (spec/temporal.md §10), on sdk-core's replay worker.

A history is pushed into a replay-only core worker whose activations go through the
same translation and the same PHP workflow worker as live tasks; the run's eviction
tells the outcome (non-determinism, another failure, or a clean end). Results are
``ReplayResponse.status`` codes (0 ok, 3 invalid argument, 9 failed precondition,
13 internal), never RPC errors.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from temporalio.bridge.proto.workflow_activation import workflow_activation_pb2 as wa

from rr.temporal.workflows import Workflows

if TYPE_CHECKING:
    from rr.temporal.plugin import TemporalPlugin

OK, INVALID_ARGUMENT, FAILED_PRECONDITION, INTERNAL = 0, 3, 9, 13
NOT_INITIALIZED = "workflow definition is not initialized, retry in a second"
_CLEAN = (wa.RemoveFromCache.EvictionReason.CACHE_FULL,
          wa.RemoveFromCache.EvictionReason.LANG_REQUESTED)
REPLAY_TIMEOUT = 60.0


class ReplayFailure(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class Replayer:
    def __init__(self, plugin: TemporalPlugin, log: logging.Logger) -> None:
        self.plugin = plugin
        self.log = log
        self._lock = asyncio.Lock()

    def _task_queue(self, workflow_type: str) -> str:
        """PHP routes frames by task queue: use the one that announced the type."""
        from rr.temporal.ww import workflow_names

        for e in self.plugin.entries:
            if workflow_type in workflow_names(e):
                return str(e.get("TaskQueue") or "default")
        raise ReplayFailure(INVALID_ARGUMENT, f'workflow "{workflow_type}" is not registered')

    async def replay(self, workflow_id: str, workflow_type: str, events: list[Any]) -> None:
        """Replay ``events``; raise ReplayFailure unless the PHP code replays cleanly."""
        if self.plugin.ww is None or not self.plugin.entries:
            raise ReplayFailure(FAILED_PRECONDITION, NOT_INITIALIZED)
        tq = self._task_queue(workflow_type)
        async with self._lock:
            return await self._replay(workflow_id, workflow_type, tq, events)

    async def _replay(self, workflow_id: str, workflow_type: str, tq: str,
                      events: list[Any]) -> None:
        from temporalio.api.history.v1 import History
        from temporalio.bridge import worker as bw
        from temporalio.runtime import Runtime

        from rr.temporal.bridge import worker_config

        assert self.plugin.ww is not None
        cfg = worker_config({"TaskQueue": tq, "Options": {}}, self.plugin.cfg.namespace, 2,
                            True)
        cfg.task_types = bw.WorkerTaskTypes(enable_workflows=True, enable_local_activities=False,
                                            enable_remote_activities=False, enable_nexus=False)
        runtime = self.plugin.conn._runtime or Runtime.default()
        worker, pusher = bw.Worker.for_replay(runtime._core_runtime, cfg)
        outcome: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()

        def evicted(_run_id: str, job: Any) -> None:
            if outcome.done():
                return
            if job.reason in _CLEAN:
                outcome.set_result((OK, ""))
            elif job.reason == wa.RemoveFromCache.EvictionReason.NONDETERMINISM:
                outcome.set_result((FAILED_PRECONDITION, job.message))
            else:
                reason = wa.RemoveFromCache.EvictionReason.Name(job.reason)
                outcome.set_result((INTERNAL, f"{reason}: {job.message}"))

        wf = Workflows(worker, self.plugin.ww, tq, self.plugin.cfg.namespace, {workflow_type},
                       self.log, on_evict=evicted)
        loop_task = asyncio.get_running_loop().create_task(wf.poll_loop())
        try:
            await pusher.push_history(workflow_id, History(events=events).SerializeToString())
            code, message = await asyncio.wait_for(outcome, REPLAY_TIMEOUT)
        except TimeoutError:
            code, message = INTERNAL, "replay did not finish in time"
        finally:
            pusher.close()
            worker.initiate_shutdown()
            try:
                await asyncio.wait_for(loop_task, 10)
                await asyncio.wait_for(worker.finalize_shutdown(), 10)
            except Exception as e:  # the outcome is known already
                self.log.debug("temporal: replay worker shutdown: %s", e)
        if code != OK:
            raise ReplayFailure(code, message)


def read_history(path: str, workflow_id: str, last_event_id: int) -> list[Any]:
    """Temporal's JSON history (either JSON flavour); cut after ``last_event_id``."""
    from temporalio.client import WorkflowHistory

    text = Path(path).read_text()
    events = list(WorkflowHistory.from_json(workflow_id, text).events)
    if last_event_id:
        events = [e for e in events if e.event_id <= last_event_id]
    return events


def write_history(path: str, events: list[Any]) -> None:
    from google.protobuf import json_format
    from temporalio.api.history.v1 import History

    Path(path).write_text(json_format.MessageToJson(History(events=events)))
