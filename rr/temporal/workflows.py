"""The workflow side (spec/temporal.md §7, §13.3–§13.5): sdk-core activations → frames
for the PHP workflow worker, PHP commands → the activation completion.

A failed activation is a failed workflow task: core evicts the run and Temporal retries
the task, which replays the history into a fresh PHP instance. That is also how a
killed WW is survived — runs cached for a previous WW pid fail their next activation
and come back by replay, each completing exactly once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import ChildWorkflowExecutionFailureInfo, Failure
from temporalio.bridge.proto.workflow_commands import workflow_commands_pb2 as wc
from temporalio.bridge.proto.workflow_completion import workflow_completion_pb2 as wcomp

from rr.temporal import codec, failures
from rr.temporal.commands import (
    ACTIVITY,
    CANCEL_EXT,
    CHILD,
    LOCAL,
    SIGNAL_EXT,
    TIMER,
    CommandError,
    PanicError,
    RunState,
    Translator,
)
from rr.temporal.info import tick_time, workflow_info
from rr.temporal.ww import ExchangeError, WorkflowProcess, next_id

NULL = Payload(metadata={"encoding": b"binary/null"})
#: StartChildWorkflowExecutionFailedCause → (message, Go error type)
CHILD_START_CAUSES = {
    1: ("child workflow execution already started", "ChildWorkflowExecutionAlreadyStartedError"),
    2: ("namespace not found", "NamespaceNotFoundError"),
}


class Workflows:
    """One per bridge worker (task queue); every task queue shares the one WW."""

    def __init__(self, bridge: Any, ww: WorkflowProcess, task_queue: str, namespace: str,
                 names: set[str], log: logging.Logger, disable_eager: bool = False,
                 panic_fails_workflow: bool = False,
                 on_evict: Callable[[str, Any], None] | None = None) -> None:
        self.bridge = bridge
        self.ww = ww
        self.task_queue = task_queue
        self.namespace = namespace
        self.names = names
        self.log = log
        self.disable_eager = disable_eager
        self.panic_fails_workflow = panic_fails_workflow
        self.on_evict = on_evict  # the replayer learns each run's outcome here
        self.runs: dict[str, RunState] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def poll_loop(self) -> None:
        from temporalio.bridge.worker import PollShutdownError

        while True:
            try:
                act = await self.bridge.poll_workflow_activation()
            except PollShutdownError:
                break
            t = asyncio.get_running_loop().create_task(self.handle(act))
            self._tasks.add(t)
            t.add_done_callback(self._tasks.discard)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def handle(self, act: Any) -> None:
        completion = wcomp.WorkflowActivationCompletion(run_id=act.run_id)
        try:
            remove = next((j.remove_from_cache for j in act.jobs
                           if j.HasField("remove_from_cache")), None)
            if remove is not None:
                await self._evict(act.run_id)
                if self.on_evict is not None:
                    self.on_evict(act.run_id, remove)
                completion.successful.SetInParent()
            else:
                completion.successful.commands.extend(await self._activate(act))
        except PanicError as e:
            if self.panic_fails_workflow:
                # WorkflowPanicPolicy 1 (FailWorkflow): the workflow fails, no task retry
                completion.successful.commands.append(wc.WorkflowCommand(
                    fail_workflow_execution=wc.FailWorkflowExecution(failure=e.failure)))
            else:
                completion.failed.failure.CopyFrom(e.failure)
        except (CommandError, ExchangeError, codec.EnvelopeError) as e:
            self.log.warning("temporal: workflow task failed", extra={"fields": {
                "run_id": act.run_id, "error": str(e)}})
            completion.failed.failure.CopyFrom(failures.application(str(e)))
        except Exception as e:  # a bug here must fail the task, not hang the run
            self.log.exception("temporal: activation failed inside rr")
            completion.failed.failure.CopyFrom(failures.application(f"rr: {e}"))
        # a failed activation keeps its run: core evicts it next (remove_from_cache),
        # which destroys the PHP instance too
        try:
            await self.bridge.complete_workflow_activation(completion)
        except Exception:
            self.log.exception("temporal: cannot complete workflow activation")

    async def _evict(self, run_id: str) -> None:
        run = self.runs.pop(run_id, None)
        if run is None or run.ww_pid != self.ww.pid:
            return
        ctx = codec.Context(task_queue=self.task_queue, rr_id=run.rr_id)
        msg = codec.command("DestroyWorkflow", {"runId": run.run_id}, msg_id=next_id())
        try:
            await self.ww.exchange(ctx, [msg])  # sent alone; the answer does not matter
        except (ExchangeError, codec.EnvelopeError) as e:
            self.log.debug("temporal: DestroyWorkflow: %s", e)

    # -- one activation --------------------------------------------------------------------
    async def _activate(self, act: Any) -> list[Any]:
        run = self._run_for(act)
        run.replaying = act.is_replaying
        run.timestamp.CopyFrom(act.timestamp)
        ctx = codec.Context(task_queue=self.task_queue, tick_time=tick_time(act.timestamp),
                            replay=act.is_replaying, history_length=act.history_length,
                            history_size=act.history_size_bytes, rr_id=run.rr_id,
                            continue_as_new_suggested=act.continue_as_new_suggested)
        tr = Translator(run, self.disable_eager)
        start: list[Any] = []
        events: list[Any] = []  # signals and cancellation
        resolutions: list[Any] = []
        updates: list[Any] = []
        queries: list[Any] = []
        for job in act.jobs:
            kind = job.WhichOneof("variant")
            if kind == "initialize_workflow":
                start.append(self._start(run, job.initialize_workflow))
            elif kind == "signal_workflow":
                s = job.signal_workflow
                events.append(codec.command("InvokeSignal", {"runId": run.run_id,
                                                             "name": s.signal_name},
                                            msg_id=next_id(), payloads=list(s.input),
                                            header=_header(s.headers)))
            elif kind == "cancel_workflow":
                events.append(codec.command("CancelWorkflow", {"runId": run.run_id},
                                            msg_id=next_id()))
            elif kind == "do_update":
                u = job.do_update
                run.updates[u.id] = (u.protocol_instance_id, u.run_validator)
                opts: dict[str, Any] = {"updateId": u.id, "runId": run.run_id,
                                        "name": u.name, "type": "validate_execute"}
                if not u.run_validator:
                    opts["replay"] = True
                updates.append(codec.command("InvokeUpdate", opts, msg_id=next_id(),
                                             payloads=list(u.input), header=_header(u.headers)))
            elif kind == "query_workflow":
                queries.append(job.query_workflow)
            elif kind == "notify_has_patch":
                run.patches.add(job.notify_has_patch.patch_id)
            elif kind == "update_random_seed":
                pass  # PHP has no workflow RNG seed
            else:
                resolutions.extend(self._resolution(run, tr, kind, getattr(job, kind)))
        # Go's order (§7.3, §13.3): StartWorkflow, signals and cancel, responses, updates
        batch = start + events + resolutions + updates
        while batch and not tr.terminal:
            tr.walk(await self.ww.exchange(ctx, batch))
            batch, tr.immediate = tr.immediate, []
        commands = tr.commands
        for q in queries:
            commands.append(await self._query(ctx, run, q))
        return commands

    def _run_for(self, act: Any) -> RunState:
        init = next((j.initialize_workflow for j in act.jobs
                     if j.HasField("initialize_workflow")), None)
        if init is not None:
            if init.workflow_type not in self.names:
                raise CommandError(f'Workflow with the specified name "{init.workflow_type}" '
                                   "was not registered")
            run = RunState(run_id=act.run_id, workflow_id=init.workflow_id,
                           workflow_type=init.workflow_type, task_queue=self.task_queue,
                           namespace=self.namespace, ww_pid=self.ww.pid)
            self.runs[act.run_id] = run
            return run
        run0 = self.runs.get(act.run_id)
        if run0 is None:
            raise CommandError("workflow run is not cached by rr; replaying it from history")
        if run0.ww_pid != self.ww.pid:
            self.evict_stale()
            raise CommandError("the PHP workflow worker was restarted; replaying the run "
                               "from history")
        return run0

    def evict_stale(self) -> None:
        """Ask core to evict every run whose PHP instance lived in an earlier WW, so that
        each replays on its next task instead of failing one first (Go's full reset
        purges its sticky cache likewise)."""
        pid = self.ww.pid
        for run_id, run in list(self.runs.items()):
            if run.ww_pid != pid and not run.evicting:
                run.evicting = True
                try:
                    self.bridge.request_workflow_eviction(run_id)
                except Exception as e:  # the worker is shutting down
                    self.log.debug("temporal: eviction of %s: %s", run_id, e)

    def _start(self, run: RunState, init: Any) -> Any:
        opts: dict[str, Any] = {"info": workflow_info(init, run.run_id, self.task_queue,
                                                      self.namespace)}
        last = list(init.last_completion_result.payloads)
        if last:
            opts["lastCompletion"] = len(last)
        typed = _typed_search_attributes(init)
        if typed:
            opts["search_attributes"] = typed
        return codec.command("StartWorkflow", opts, msg_id=next_id(),
                             payloads=[*init.arguments, *last], header=_header(init.headers))

    # -- resolutions -----------------------------------------------------------------------
    def _resolution(self, run: RunState, tr: Translator, kind: str | None, j: Any) -> list[Any]:
        if kind == "fire_timer":
            if tr.retry_local(j.seq):
                return []
            return _ok(run.resolve(TIMER, j.seq), [])
        if kind == "resolve_activity":
            return self._activity_result(run, tr, j)
        if kind == "resolve_child_workflow_execution_start":
            return self._child_start(run, j)
        if kind == "resolve_child_workflow_execution":
            r = j.result
            php_id = run.resolve(CHILD, j.seq)
            if r.HasField("completed"):
                return _ok(php_id, [r.completed.result] if r.completed.HasField("result")
                           else [])
            f = r.failed.failure if r.HasField("failed") else r.cancelled.failure
            return _fail(php_id, f)
        if kind in ("resolve_signal_external_workflow",
                    "resolve_request_cancel_external_workflow"):
            php_id = run.resolve(SIGNAL_EXT if kind == "resolve_signal_external_workflow"
                                 else CANCEL_EXT, j.seq)
            return _fail(php_id, j.failure) if j.HasField("failure") else _ok(php_id, [])
        raise CommandError(f"undefined command type: {kind}")

    def _activity_result(self, run: RunState, tr: Translator, j: Any) -> list[Any]:
        kind = LOCAL if j.is_local else ACTIVITY
        r = j.result
        if r.HasField("backoff"):
            tr.reschedule_local(j.seq, r.backoff)
            return []
        php_id = run.resolve(kind, j.seq)
        if j.is_local:
            run.locals.pop(j.seq, None)
        if r.HasField("completed"):
            return _ok(php_id, [r.completed.result] if r.completed.HasField("result") else [])
        if r.HasField("failed"):
            return _fail(php_id, r.failed.failure)
        f = r.cancelled.failure
        # Go hands a try-cancelled activity a bare "canceled" failure: unwrap core's
        # ActivityFailure so PHP code that catches CanceledFailure keeps working
        if f.HasField("cause") and failures.is_canceled(f.cause):
            f = f.cause
        return _fail(php_id, f)

    def _child_start(self, run: RunState, j: Any) -> list[Any]:
        if j.HasField("succeeded"):
            run.child_started[j.seq] = j.succeeded.run_id
            waiter = run.child_waiters.pop(j.seq, None)
            if waiter is None:
                return []
            execution = {"ID": run.child_ids.get(j.seq, ""), "RunID": j.succeeded.run_id}
            return [codec.response(waiter, [codec.json_payload(execution)])]
        f = _child_start_failure(run, j.failed) if j.HasField("failed") else j.cancelled.failure
        run.child_started[j.seq] = f
        out = _fail(run.resolve(CHILD, j.seq), f)
        waiter = run.child_waiters.pop(j.seq, None)
        if waiter is not None:
            out.append(codec.response(waiter, failure=f))
        return out

    # -- queries ---------------------------------------------------------------------------
    async def _query(self, ctx: codec.Context, run: RunState, q: Any) -> Any:
        """Every query is its own exchange: PHP answers with id 0, so two answers in one
        frame could not be told apart (§3.5)."""
        if q.query_type == "__stack_trace":
            msg = codec.command("StackTrace", {"runId": run.run_id}, msg_id=next_id())
        else:
            msg = codec.command("InvokeQuery", {"runId": run.run_id, "name": q.query_type},
                                msg_id=next_id(), payloads=list(q.arguments),
                                header=_header(q.headers))
        result = wc.QueryResult(query_id=q.query_id)
        try:
            answer = await self.ww.exchange(ctx, [msg])
        except (ExchangeError, codec.EnvelopeError) as e:
            result.failed.CopyFrom(failures.application(str(e)))
            return wc.WorkflowCommand(respond_to_query=result)
        m = next((a for a in answer if not a.command), None)
        if m is None:
            result.failed.CopyFrom(failures.application("query: PHP sent no answer"))
        elif m.HasField("failure"):
            result.failed.CopyFrom(m.failure)
        else:
            pls = codec.payloads(m)
            result.succeeded.response.CopyFrom(pls[0] if pls else NULL)
        return wc.WorkflowCommand(respond_to_query=result)


def _ok(php_id: int | None, payloads: list[Payload]) -> list[Any]:
    return [] if php_id is None else [codec.response(php_id, payloads)]


def _fail(php_id: int | None, f: Failure) -> list[Any]:
    return [] if php_id is None else [codec.response(php_id, failure=f)]


def _header(fields: Any) -> Any:
    if not fields:
        return None
    from temporalio.api.common.v1 import Header

    return Header(fields=dict(fields))


def _child_start_failure(run: RunState, f: Any) -> Failure:
    """The Go-shaped failure of a child that could not start (§9)."""
    message, type_ = CHILD_START_CAUSES.get(
        f.cause, (f"unable to start child workflow for unknown cause: {f.cause}", "Error"))
    cause = failures.application(message, type_, non_retryable=True)
    out = Failure(message="child workflow execution error", source=failures.SOURCE,
                  child_workflow_execution_failure_info=ChildWorkflowExecutionFailureInfo(
                      namespace=run.namespace, retry_state=_NON_RETRYABLE))
    out.child_workflow_execution_failure_info.workflow_execution.workflow_id = f.workflow_id
    out.child_workflow_execution_failure_info.workflow_type.name = f.workflow_type
    out.cause.CopyFrom(cause)
    return out


_NON_RETRYABLE: Any = 4  # RETRY_STATE_NON_RETRYABLE_FAILURE

_SA_TYPES = {b"Bool": "bool", b"Double": "float64", b"Int": "int64", b"Keyword": "keyword",
             b"KeywordList": "keyword_list", b"Text": "string", b"Datetime": "datetime"}


def _typed_search_attributes(init: Any) -> dict[str, Any]:
    import json

    out: dict[str, Any] = {}
    if not init.HasField("search_attributes"):
        return out
    for k, p in init.search_attributes.indexed_fields.items():
        t = _SA_TYPES.get(p.metadata.get("type", b""))
        if t is None:
            continue
        try:
            out[k] = {"type": t, "value": json.loads(p.data)}
        except ValueError:
            continue
    return out
