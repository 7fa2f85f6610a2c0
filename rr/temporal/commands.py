"""PHP workflow commands → sdk-core workflow commands (spec/temporal.md §6, §13.4).

One ``RunState`` per cached workflow run holds what correlates the two sides: PHP
request ids are ~10¹⁵ while core's ``seq`` is a uint32 per command kind, so every
scheduled command gets its own seq and both directions are mapped here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.common.v1 import Payload, SearchAttributes
from temporalio.bridge.proto.common import common_pb2
from temporalio.bridge.proto.workflow_commands import workflow_commands_pb2 as wc

from rr.temporal import codec, failures
from rr.temporal.activities import SIDE_EFFECT_TYPE
from rr.temporal.info import duration_from_ns, priority_from_php, retry_policy_from_php

TIMER, ACTIVITY, LOCAL, CHILD, SIGNAL_EXT, CANCEL_EXT = (
    "timer", "activity", "local", "child", "signal_ext", "cancel_ext")
TERMINAL = ("CompleteWorkflow", "ContinueAsNew")
MINUTE_NS = 60_000_000_000
SA_TYPES = {"bool": "Bool", "float64": "Double", "int64": "Int", "keyword": "Keyword",
            "keyword_list": "KeywordList", "string": "Text", "datetime": "Datetime"}


def _copy_options(command: Any, opts: dict[str, Any], durations: dict[str, str],
                  policies: bool = True) -> None:
    """PHP's option names onto a command's fields: the durations named (PHP key ->
    field), and the retry policy and priority the schedule commands share."""
    for key, field_ in durations.items():
        d = duration_from_ns(opts.get(key))
        if d is not None:
            getattr(command, field_).CopyFrom(d)
    if not policies:
        return
    rp = retry_policy_from_php(opts.get("RetryPolicy"))
    if rp is not None:
        command.retry_policy.CopyFrom(rp)
    prio = priority_from_php(opts.get("Priority"))
    if prio is not None:
        command.priority.CopyFrom(prio)


def _enum(value: Any) -> Any:
    """A Temporal enum value from PHP's JSON (protobuf stubs type enums nominally)."""
    return int(value or 0)


class CommandError(Exception):
    """A PHP command rr cannot apply: the activation fails with this text (Go panics)."""


@dataclass
class RunState:
    run_id: str  # Temporal run id
    workflow_id: str
    workflow_type: str
    task_queue: str
    namespace: str
    ww_pid: int
    rr_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    seqs: dict[str, int] = field(default_factory=dict)
    by_php: dict[int, tuple[str, int]] = field(default_factory=dict)
    by_seq: dict[tuple[str, int], int] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    patches: set[str] = field(default_factory=set)
    updates: dict[str, tuple[str, bool]] = field(default_factory=dict)  # id → (pid, validate)
    child_ids: dict[int, str] = field(default_factory=dict)  # child seq → workflow id
    child_started: dict[int, Any] = field(default_factory=dict)  # seq → execution | failure
    child_waiters: dict[int, int] = field(default_factory=dict)  # child seq → PHP get-id
    child_counter: int = 0
    locals: dict[int, Any] = field(default_factory=dict)  # local seq → ScheduleLocalActivity
    backoffs: dict[int, tuple[int, Any]] = field(default_factory=dict)  # timer seq → retry
    replaying: bool = False
    evicting: bool = False  # an eviction was requested from core
    timestamp: Timestamp = field(default_factory=Timestamp)

    def next_seq(self, kind: str, php_id: int) -> int:
        seq = self.seqs.get(kind, 0) + 1
        self.seqs[kind] = seq
        self.by_php[php_id] = (kind, seq)
        self.by_seq[(kind, seq)] = php_id
        return seq

    def resolve(self, kind: str, seq: int) -> int | None:
        """The PHP request id a resolution belongs to (forgotten once resolved)."""
        php_id = self.by_seq.pop((kind, seq), None)
        if php_id is not None:
            self.by_php.pop(php_id, None)
        return php_id


class Translator:
    """Walks one PHP answer; collects core commands and immediate answers for PHP."""

    def __init__(self, run: RunState, disable_eager: bool = False) -> None:
        self.run = run
        self.disable_eager = disable_eager
        self.commands: list[Any] = []
        self.immediate: list[Any] = []
        self.terminal = False

    def walk(self, messages: list[Any]) -> None:
        for m in messages:
            if self.terminal:
                return
            if not m.command:
                continue  # responses to our commands (id 0): nothing to do (§3.5)
            handler = getattr(self, "_" + m.command, None)
            if handler is None:
                raise CommandError(f"undefined command name: {m.command}, possible outdated "
                                   "RoadRunner version")
            handler(m, codec.options(m))

    # -- helpers ---------------------------------------------------------------------------
    def _add(self, meta_summary: str = "", **kw: Any) -> Any:
        cmd = wc.WorkflowCommand(**kw)
        if meta_summary:
            cmd.user_metadata.summary.CopyFrom(codec.json_payload(meta_summary))
        self.commands.append(cmd)
        return cmd

    def _answer(self, php_id: int, payloads: list[Payload] | None = None,
                failure: Any = None) -> None:
        self.immediate.append(codec.response(php_id, payloads, failure))

    @staticmethod
    def _headers(m: Any) -> dict[str, Payload]:
        return dict(m.header.fields) if m.HasField("header") else {}

    # -- scheduling --------------------------------------------------------------------------
    def _ExecuteActivity(self, m: Any, o: dict[str, Any]) -> None:
        opts = o.get("options") or {}
        seq = self.run.next_seq(ACTIVITY, m.id)
        sa = wc.ScheduleActivity(
            seq=seq, activity_id=str(opts.get("ActivityID") or seq),
            activity_type=str(o.get("name") or ""),
            task_queue=str(opts.get("TaskQueueName") or self.run.task_queue),
            headers=self._headers(m), arguments=codec.payloads(m),
            cancellation_type=_enum(1 if opts.get("WaitForCancellation") else 0),
            do_not_eagerly_execute=self.disable_eager)
        _copy_options(sa, opts, {"ScheduleToCloseTimeout": "schedule_to_close_timeout",
                                 "ScheduleToStartTimeout": "schedule_to_start_timeout",
                                 "StartToCloseTimeout": "start_to_close_timeout",
                                 "HeartbeatTimeout": "heartbeat_timeout"})
        self._add(str(opts.get("Summary") or ""), schedule_activity=sa)

    def _local(self, php_id: int, type_: str, args: list[Payload], headers: dict[str, Any],
               opts: dict[str, Any], attempts: int = 0) -> None:
        seq = self.run.next_seq(LOCAL, php_id)
        la = wc.ScheduleLocalActivity(seq=seq, activity_id=str(seq), activity_type=type_,
                                      attempt=1, headers=headers, arguments=args)
        la.original_schedule_time.CopyFrom(self.run.timestamp)
        for key, field_ in (("ScheduleToCloseTimeout", "schedule_to_close_timeout"),
                            ("StartToCloseTimeout", "start_to_close_timeout")):
            d = duration_from_ns(opts.get(key) or MINUTE_NS)  # Go: 1 minute when 0
            assert d is not None
            getattr(la, field_).CopyFrom(d)
        rp = retry_policy_from_php(opts.get("RetryPolicy"))
        if rp is not None:
            la.retry_policy.CopyFrom(rp)
        if attempts:
            la.retry_policy.maximum_attempts = attempts
        self.run.locals[seq] = la
        self._add(str(opts.get("Summary") or ""), schedule_local_activity=la)

    def reschedule_local(self, seq: int, backoff: Any) -> None:
        """A local activity core wants retried after a backoff: a proxy timer, then the
        same activity again with core's attempt number — PHP sees neither."""
        php_id = self.run.resolve(LOCAL, seq)
        la = self.run.locals.pop(seq, None)
        if php_id is None or la is None:
            return
        timer_seq = self.run.seqs.get(TIMER, 0) + 1
        self.run.seqs[TIMER] = timer_seq
        again = wc.ScheduleLocalActivity()
        again.CopyFrom(la)
        again.attempt = backoff.attempt
        again.original_schedule_time.CopyFrom(backoff.original_schedule_time)
        self.run.backoffs[timer_seq] = (php_id, again)
        t = wc.StartTimer(seq=timer_seq)
        t.start_to_fire_timeout.CopyFrom(backoff.backoff_duration)
        self._add(start_timer=t)

    def retry_local(self, timer_seq: int) -> bool:
        entry = self.run.backoffs.pop(timer_seq, None)
        if entry is None:
            return False
        php_id, la = entry
        la.seq = self.run.next_seq(LOCAL, php_id)
        self.run.locals[la.seq] = la
        self._add(schedule_local_activity=la)
        return True

    def _ExecuteLocalActivity(self, m: Any, o: dict[str, Any]) -> None:
        self._local(m.id, str(o.get("name") or ""), codec.payloads(m), self._headers(m),
                    o.get("options") or {})

    def _SideEffect(self, m: Any, o: dict[str, Any]) -> None:
        # sdk-core has no side-effect marker: a local activity that rr completes with
        # its own input records the value in history and replays it (§13.4, §13.9)
        self._local(m.id, SIDE_EFFECT_TYPE, codec.payloads(m), {}, {"Summary": o.get("summary")},
                    attempts=1)

    def _NewTimer(self, m: Any, o: dict[str, Any]) -> None:
        ms = int(o.get("ms") or 0)
        if ms < 0:
            self._answer(m.id, failure=failures.application(
                f"negative duration provided {ms}ms"))
            return
        if ms == 0:
            self._answer(m.id, [])
            return
        seq = self.run.next_seq(TIMER, m.id)
        t = wc.StartTimer(seq=seq)
        t.start_to_fire_timeout.FromMilliseconds(ms)
        self._add(str(o.get("summary") or ""), start_timer=t)

    def _ExecuteChildWorkflow(self, m: Any, o: dict[str, Any]) -> None:
        opts = o.get("options") or {}
        seq = self.run.next_seq(CHILD, m.id)
        wid = opts.get("WorkflowID")
        if not wid:
            self.run.child_counter += 1
            wid = f"{self.run.run_id}_{self.run.child_counter}"
        self.run.child_ids[seq] = str(wid)
        c = wc.StartChildWorkflowExecution(
            seq=seq, namespace=str(opts.get("Namespace") or self.run.namespace),
            workflow_id=str(wid), workflow_type=str(o.get("name") or ""),
            task_queue=str(opts.get("TaskQueueName") or self.run.task_queue),
            input=codec.payloads(m), headers=self._headers(m),
            parent_close_policy=_enum(opts.get("ParentClosePolicy")),
            workflow_id_reuse_policy=_enum(opts.get("WorkflowIDReusePolicy")),
            cron_schedule=str(opts.get("CronSchedule") or ""),
            cancellation_type=_enum(2 if opts.get("WaitForCancellation") else 1))
        _copy_options(c, opts, {"WorkflowExecutionTimeout": "workflow_execution_timeout",
                                "WorkflowRunTimeout": "workflow_run_timeout",
                                "WorkflowTaskTimeout": "workflow_task_timeout"})
        for k, v in (opts.get("Memo") or {}).items():
            c.memo[k].CopyFrom(codec.json_payload(v))
        for k, v in (opts.get("SearchAttributes") or {}).items():
            c.search_attributes.indexed_fields[k].CopyFrom(codec.json_payload(v))
        self._add(str(opts.get("StaticSummary") or ""), start_child_workflow_execution=c)

    def _GetChildWorkflowExecution(self, m: Any, o: dict[str, Any]) -> None:
        ref = self.run.by_php.get(int(o.get("id") or 0))
        if ref is None or ref[0] != CHILD:
            self._answer(m.id, failure=failures.application("child workflow not found"))
            return
        seq = ref[1]
        if seq in self.run.child_started:
            self.answer_child_start(m.id, seq)
        else:
            self.run.child_waiters[seq] = m.id

    def answer_child_start(self, php_id: int, seq: int) -> None:
        """``[{"ID","RunID"}]`` of a started child, or the failure that stopped it."""
        started = self.run.child_started[seq]
        if isinstance(started, str):
            execution = {"ID": self.run.child_ids.get(seq, ""), "RunID": started}
            self._answer(php_id, [codec.json_payload(execution)])
        else:
            self._answer(php_id, failure=started)

    # -- versions --------------------------------------------------------------------------
    def _GetVersion(self, m: Any, o: dict[str, Any]) -> None:
        change = str(o.get("changeID") or "")
        lo, hi = int(o.get("minSupported") or 0), int(o.get("maxSupported") or 0)
        version = self.run.versions.get(change)
        if version is None:
            version = self._version_of(change, hi)
            self.run.versions[change] = version
        if version < lo:
            raise CommandError(f'[TMPRL1100] Workflow code removed support of version '
                               f'{version}. for "{change}" changeID. The oldest supported '
                               f'version is {lo}')
        if version > hi:
            raise CommandError(f'[TMPRL1100] Workflow code is too old to support version '
                               f'{version} for "{change}" changeID. The maximum supported '
                               f'version is {hi}')
        self._answer(m.id, [codec.json_payload(version)])

    def _version_of(self, change: str, hi: int) -> int:
        """Version = the int suffix of a ``<changeID>-<n>`` patch notified from history;
        a replay without one is the default version -1 (§13.5)."""
        prefix = change + "-"
        for p in self.run.patches:
            suffix = p[len(prefix):] if p.startswith(prefix) else ""
            if suffix.lstrip("-").isdigit():
                self._add(set_patch_marker=wc.SetPatchMarker(patch_id=p))
                return int(suffix)
        if self.run.replaying:
            return -1
        patch = f"{change}-{hi}"
        self.run.patches.add(patch)
        self._add(set_patch_marker=wc.SetPatchMarker(patch_id=patch))
        return hi

    # -- completion ------------------------------------------------------------------------
    def _CompleteWorkflow(self, m: Any, o: dict[str, Any]) -> None:
        self.terminal = True
        if m.HasField("failure"):
            if failures.is_canceled(m.failure):
                self._add(cancel_workflow_execution=wc.CancelWorkflowExecution(
                    details=m.failure.canceled_failure_info.details))
            else:
                self._add(fail_workflow_execution=wc.FailWorkflowExecution(failure=m.failure))
            return
        pls = codec.payloads(m)
        c = wc.CompleteWorkflowExecution()
        if pls:
            c.result.CopyFrom(pls[0])
        self._add(complete_workflow_execution=c)

    def _ContinueAsNew(self, m: Any, o: dict[str, Any]) -> None:
        self.terminal = True
        opts = o.get("options") or {}
        c = wc.ContinueAsNewWorkflowExecution(
            workflow_type=str(o.get("name") or self.run.workflow_type),
            task_queue=str(opts.get("TaskQueueName") or ""),
            arguments=codec.payloads(m), headers=self._headers(m))
        _copy_options(c, opts, {"WorkflowRunTimeout": "workflow_run_timeout",
                                "WorkflowTaskTimeout": "workflow_task_timeout"}, policies=False)
        self._add(continue_as_new_workflow_execution=c)

    def _Panic(self, m: Any, o: dict[str, Any]) -> None:
        raise PanicError(m.failure if m.HasField("failure") else
                         failures.application("workflow panic"))

    def _UndefinedResponse(self, m: Any, o: dict[str, Any]) -> None:
        raise CommandError(f"undefined response: {o.get('message', '')}")

    # -- updates ---------------------------------------------------------------------------
    def _update(self, m: Any, o: dict[str, Any], what: str) -> tuple[str, bool] | None:
        uid = str(o.get("id") or "")
        if not uid:
            raise CommandError(f"update id is empty, can't {what} update")
        return self.run.updates.get(uid)

    def _UpdateValidated(self, m: Any, o: dict[str, Any]) -> None:
        u = self._update(m, o, "validate")
        if u is None:
            return
        pid, validate = u
        r = wc.UpdateResponse(protocol_instance_id=pid)
        if m.HasField("failure") and validate and not self.run.replaying:
            r.rejected.CopyFrom(m.failure)
            self.run.updates.pop(str(o.get("id")), None)
        else:
            r.accepted.SetInParent()
        self._add(update_response=r)

    def _UpdateCompleted(self, m: Any, o: dict[str, Any]) -> None:
        u = self._update(m, o, "complete")
        if u is None:
            return
        self.run.updates.pop(str(o.get("id")), None)
        r = wc.UpdateResponse(protocol_instance_id=u[0])
        if m.HasField("failure"):
            r.rejected.CopyFrom(m.failure)
        else:
            pls = codec.payloads(m)
            r.completed.CopyFrom(pls[0] if pls else Payload(metadata={"encoding": b"binary/null"}))
        self._add(update_response=r)

    # -- properties --------------------------------------------------------------------------
    def _UpsertWorkflowSearchAttributes(self, m: Any, o: dict[str, Any]) -> None:
        fields = {k: codec.json_payload(v) for k, v in (o.get("searchAttributes") or {}).items()}
        self._add(upsert_workflow_search_attributes=wc.UpsertWorkflowSearchAttributes(
            search_attributes=SearchAttributes(indexed_fields=fields)))

    def _UpsertWorkflowTypedSearchAttributes(self, m: Any, o: dict[str, Any]) -> None:
        fields: dict[str, Payload] = {}
        for k, spec in (o.get("search_attributes") or {}).items():
            if not isinstance(spec, dict):
                continue
            if spec.get("operation") == "unset":
                fields[k] = Payload(metadata={"encoding": b"binary/null"})
                continue
            t = SA_TYPES.get(str(spec.get("type")))
            if t is None:
                continue  # Go logs wrong-typed values and skips them
            p = codec.json_payload(spec.get("value"))
            p.metadata["type"] = t.encode()
            fields[k] = p
        if fields:
            self._add(upsert_workflow_search_attributes=wc.UpsertWorkflowSearchAttributes(
                search_attributes=SearchAttributes(indexed_fields=fields)))

    def _UpsertMemo(self, m: Any, o: dict[str, Any]) -> None:
        memo = o.get("memo") or {}
        if not memo:
            return
        c = wc.ModifyWorkflowProperties()
        for k, v in memo.items():
            c.upserted_memo.fields[k].CopyFrom(
                Payload(metadata={"encoding": b"binary/null"}) if v is None
                else codec.json_payload(v))
        self._add(modify_workflow_properties=c)

    # -- external workflows ----------------------------------------------------------------
    def _SignalExternalWorkflow(self, m: Any, o: dict[str, Any]) -> None:
        seq = self.run.next_seq(SIGNAL_EXT, m.id)
        c = wc.SignalExternalWorkflowExecution(seq=seq, signal_name=str(o.get("signal") or ""),
                                               args=codec.payloads(m), headers=self._headers(m))
        if o.get("childWorkflowOnly"):
            c.child_workflow_id = str(o.get("workflowID") or "")
        else:
            c.workflow_execution.CopyFrom(common_pb2.NamespacedWorkflowExecution(
                namespace=str(o.get("namespace") or self.run.namespace),
                workflow_id=str(o.get("workflowID") or ""), run_id=str(o.get("runID") or "")))
        self._add(signal_external_workflow_execution=c)

    def _CancelExternalWorkflow(self, m: Any, o: dict[str, Any]) -> None:
        seq = self.run.next_seq(CANCEL_EXT, m.id)
        self._add(request_cancel_external_workflow_execution=
                  wc.RequestCancelExternalWorkflowExecution(
                      seq=seq, workflow_execution=common_pb2.NamespacedWorkflowExecution(
                          namespace=str(o.get("namespace") or self.run.namespace),
                          workflow_id=str(o.get("workflowID") or ""),
                          run_id=str(o.get("runID") or ""))))

    def _Cancel(self, m: Any, o: dict[str, Any]) -> None:
        for raw in o.get("ids") or []:
            ref = self.run.by_php.get(int(raw))
            if ref is None:
                continue  # unknown or finished: ignored, as Go does
            kind, seq = ref
            if kind == TIMER:
                # core never resolves a cancelled timer: answer PHP like Go does
                self._add(cancel_timer=wc.CancelTimer(seq=seq))
                self.run.resolve(kind, seq)
                self._answer(int(raw), failure=failures.canceled())
            elif kind == ACTIVITY:
                self._add(request_cancel_activity=wc.RequestCancelActivity(seq=seq))
            elif kind == LOCAL:
                self._add(request_cancel_local_activity=wc.RequestCancelLocalActivity(seq=seq))
            elif kind == CHILD:
                self._add(cancel_child_workflow_execution=wc.CancelChildWorkflowExecution(
                    child_workflow_seq=seq))
        self._answer(m.id, [codec.json_payload("completed")])


class PanicError(Exception):
    """PHP's ``Panic``: fail the workflow task with PHP's own failure."""

    def __init__(self, failure: Any) -> None:
        super().__init__(failure.message)
        self.failure = failure


