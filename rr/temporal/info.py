"""Go-shaped JSON of ``workflow.Info`` / ``activity.Info`` built from sdk-core protos
(spec/temporal.md §5.1, §5.2, §13.6, §13.7), and the reverse for options PHP sends.

Go marshals ``time.Duration`` as integer nanoseconds and ``time.Time`` as RFC 3339 with
nanoseconds; the proto structs embedded in options use snake_case keys and the plain
``{"seconds","nanos"}`` struct shape.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.common.v1 import RetryPolicy

ZERO_TIME = "0001-01-01T00:00:00Z"


def ns(d: Duration) -> int:
    return int(d.seconds) * 1_000_000_000 + int(d.nanos)


def rfc3339(ts: Timestamp) -> str:
    """RFC 3339 with nanoseconds, trailing zeros trimmed, as Go's RFC3339Nano."""
    if not ts.seconds and not ts.nanos:
        return ZERO_TIME
    base = datetime.fromtimestamp(ts.seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    frac = f"{ts.nanos:09d}".rstrip("0")
    return f"{base}.{frac}Z" if frac else f"{base}Z"


def tick_time(ts: Timestamp) -> str:
    """The context's ``tickTime`` has seconds precision (§3.3)."""
    return datetime.fromtimestamp(ts.seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def duration_from_ns(value: Any) -> Duration | None:
    n = int(value or 0)
    if n <= 0:
        return None
    return Duration(seconds=n // 1_000_000_000, nanos=n % 1_000_000_000)


def duration_from_struct(value: Any) -> Duration | None:
    if not isinstance(value, dict):
        return None
    d = Duration(seconds=int(value.get("seconds") or 0), nanos=int(value.get("nanos") or 0))
    return d if d.seconds or d.nanos else None


def retry_policy_go(rp: RetryPolicy | None) -> dict[str, Any] | None:
    if rp is None:
        return None
    return {"InitialInterval": ns(rp.initial_interval),
            "BackoffCoefficient": rp.backoff_coefficient,
            "MaximumInterval": ns(rp.maximum_interval),
            "MaximumAttempts": rp.maximum_attempts,
            "NonRetryableErrorTypes": list(rp.non_retryable_error_types) or None}


def retry_policy_from_php(value: Any) -> RetryPolicy | None:
    """PHP's proto-shaped RetryPolicy (snake_case, struct durations) → proto."""
    if not isinstance(value, dict):
        return None
    rp = RetryPolicy(backoff_coefficient=float(value.get("backoff_coefficient") or 0),
                     maximum_attempts=int(value.get("maximum_attempts") or 0),
                     non_retryable_error_types=list(value.get("non_retryable_error_types")
                                                    or []))
    for key in ("initial_interval", "maximum_interval"):
        d = duration_from_struct(value.get(key))
        if d is not None:
            getattr(rp, key).CopyFrom(d)
    return rp


def priority_from_php(value: Any) -> Any:
    """PHP's proto-shaped Priority (``priority_key``, ``fairness_key``,
    ``fairness_weight``) → proto, or None when absent/empty."""
    from temporalio.api.common.v1 import Priority

    if not isinstance(value, dict):
        return None
    p = Priority(priority_key=int(value.get("priority_key") or 0),
                 fairness_key=str(value.get("fairness_key") or ""),
                 fairness_weight=float(value.get("fairness_weight") or 0))
    return p if p.ByteSize() else None


def priority_go(p: Any) -> dict[str, Any]:
    return {"PriorityKey": p.priority_key, "FairnessKey": p.fairness_key,
            "FairnessWeight": p.fairness_weight}


def execution(workflow_id: str, run_id: str) -> dict[str, str]:
    return {"ID": workflow_id, "RunID": run_id}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def payload_json(p: Any) -> dict[str, Any]:
    """A Payload as Go's JSON (and protobuf JSON): base64 metadata values and data."""
    return {"metadata": {k: b64(v) for k, v in p.metadata.items()}, "data": b64(p.data)}


def activity_info(task_token: bytes, s: Any, task_queue: str, namespace: str) -> dict[str, Any]:
    deadlines = []
    if s.HasField("schedule_to_close_timeout") and ns(s.schedule_to_close_timeout):
        deadlines.append(s.scheduled_time.ToNanoseconds() + ns(s.schedule_to_close_timeout))
    if s.HasField("start_to_close_timeout") and ns(s.start_to_close_timeout):
        deadlines.append(s.started_time.ToNanoseconds() + ns(s.start_to_close_timeout))
    deadline = Timestamp()
    if deadlines:
        deadline.FromNanoseconds(min(deadlines))
    return {
        "TaskToken": b64(task_token),
        "WorkflowType": {"Name": s.workflow_type},
        "WorkflowNamespace": s.workflow_namespace,
        "WorkflowExecution": execution(s.workflow_execution.workflow_id,
                                       s.workflow_execution.run_id),
        "ActivityID": s.activity_id,
        "ActivityRunID": "",
        "ActivityType": {"Name": s.activity_type},
        "TaskQueue": task_queue,
        "HeartbeatTimeout": ns(s.heartbeat_timeout),
        "ScheduleToCloseTimeout": ns(s.schedule_to_close_timeout),
        "StartToCloseTimeout": ns(s.start_to_close_timeout),
        "ScheduledTime": rfc3339(s.scheduled_time),
        "StartedTime": rfc3339(s.started_time),
        "Deadline": rfc3339(deadline),
        "Attempt": s.attempt,
        "IsLocalActivity": s.is_local,
        "Namespace": namespace,
        "Priority": priority_go(s.priority),
        "RetryPolicy": retry_policy_go(s.retry_policy if s.HasField("retry_policy") else None),
    }


def workflow_info(init: Any, run_id: str, task_queue: str, namespace: str) -> dict[str, Any]:
    parent = init.parent_workflow_info if init.HasField("parent_workflow_info") else None
    root = init.root_workflow if init.HasField("root_workflow") else None
    return {
        "WorkflowExecution": execution(init.workflow_id, run_id),
        "OriginalRunID": init.original_execution_run_id or run_id,
        "FirstRunID": init.first_execution_run_id,
        "WorkflowType": {"Name": init.workflow_type},
        "TaskQueueName": task_queue,
        "WorkflowExecutionTimeout": ns(init.workflow_execution_timeout),
        "WorkflowRunTimeout": ns(init.workflow_run_timeout),
        "WorkflowTaskTimeout": ns(init.workflow_task_timeout),
        "Namespace": namespace,
        "Attempt": init.attempt or 1,
        "WorkflowStartTime": rfc3339(init.start_time),
        "CronSchedule": init.cron_schedule,
        "ContinuedExecutionRunID": init.continued_from_execution_run_id,
        "ParentWorkflowNamespace": parent.namespace if parent else "",
        "ParentWorkflowExecution": execution(parent.workflow_id, parent.run_id)
        if parent else None,
        "RootWorkflowExecution": execution(root.workflow_id, root.run_id) if root else None,
        "Memo": {"fields": {k: payload_json(v) for k, v in init.memo.fields.items()}}
        if init.HasField("memo") else None,
        "SearchAttributes": {"indexed_fields": {
            k: payload_json(v) for k, v in init.search_attributes.indexed_fields.items()}}
        if init.HasField("search_attributes") else None,
        "RetryPolicy": retry_policy_go(init.retry_policy if init.HasField("retry_policy")
                                       else None),
        "Priority": priority_go(init.priority),
        "BinaryChecksum": "",
    }
