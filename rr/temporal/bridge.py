"""sdk-core bridge workers built from a GetWorkerInfo entry (spec/temporal.md §13.8).

``temporalio.bridge.worker`` is internal API of temporalio; pyproject pins the version
this module was written against.
"""

from __future__ import annotations

import uuid
from typing import Any

from temporalio.bridge import worker as bw

DEFAULT_SLOTS = 1000
DEFAULT_POLLERS = 5


def _int(opts: dict[str, Any], key: str, default: int) -> int:
    v = opts.get(key)
    return int(v) if isinstance(v, (int, float)) and v > 0 else default


def _ms(opts: dict[str, Any], key: str, default: int) -> int:
    v = opts.get(key)  # ns or null
    return int(v) // 1_000_000 if isinstance(v, (int, float)) and v > 0 else default


def worker_config(entry: dict[str, Any], namespace: str, cache_size: int,
                  disable_activities: bool) -> bw.WorkerConfig:
    opts = entry.get("Options") or {}
    tq = entry.get("TaskQueue") or "default"
    identity = opts.get("Identity") or f"roadrunner:{tq}:{uuid.uuid4()}"
    slots = bw.TunerHolder(
        workflow_slot_supplier=bw.FixedSizeSlotSupplier(
            _int(opts, "MaxConcurrentWorkflowTaskExecutionSize", DEFAULT_SLOTS)),
        activity_slot_supplier=bw.FixedSizeSlotSupplier(
            _int(opts, "MaxConcurrentActivityExecutionSize", DEFAULT_SLOTS)),
        local_activity_slot_supplier=bw.FixedSizeSlotSupplier(
            _int(opts, "MaxConcurrentLocalActivityExecutionSize", DEFAULT_SLOTS)),
        nexus_slot_supplier=bw.FixedSizeSlotSupplier(1))
    remote = not disable_activities and not opts.get("LocalActivityWorkerOnly")
    wps = opts.get("WorkerActivitiesPerSecond")
    tqps = opts.get("TaskQueueActivitiesPerSecond")
    build_id = str(opts.get("BuildID") or "")
    return bw.WorkerConfig(
        namespace=namespace, task_queue=tq,
        versioning_strategy=bw.WorkerVersioningStrategyLegacyBuildIdBased(build_id)
        if build_id and opts.get("UseBuildIDForVersioning")
        else bw.WorkerVersioningStrategyNone(build_id or "rr"),
        identity_override=str(identity),
        max_cached_workflows=cache_size,
        tuner=slots,
        workflow_task_poller_behavior=bw.PollerBehaviorSimpleMaximum(
            _int(opts, "MaxConcurrentWorkflowTaskPollers", DEFAULT_POLLERS)),
        nonsticky_to_sticky_poll_ratio=0.2,
        activity_task_poller_behavior=bw.PollerBehaviorSimpleMaximum(
            _int(opts, "MaxConcurrentActivityTaskPollers", DEFAULT_POLLERS)),
        no_remote_activities=not remote,
        task_types=bw.WorkerTaskTypes(enable_workflows=not opts.get("DisableWorkflowWorker"),
                                      enable_local_activities=True,
                                      enable_remote_activities=remote, enable_nexus=False),
        sticky_queue_schedule_to_start_timeout_millis=_ms(
            opts, "StickyScheduleToStartTimeout", 10_000),
        max_heartbeat_throttle_interval_millis=_ms(opts, "MaxHeartbeatThrottleInterval", 60_000),
        default_heartbeat_throttle_interval_millis=30_000,
        max_activities_per_second=float(wps) if wps else None,
        max_task_queue_activities_per_second=float(tqps) if tqps else None,
        max_eager_activity_reservations_per_workflow_task=0
        if opts.get("DisableEagerActivities") else 3,
        graceful_shutdown_period_millis=0,  # Go forces WorkerStopTimeout to 0
        nondeterminism_as_workflow_fail=False,
        nondeterminism_as_workflow_fail_for_types=set(),
        nexus_task_poller_behavior=bw.PollerBehaviorSimpleMaximum(1),
        plugins=[], storage_drivers=set(), disable_payload_error_limit=False)


async def create(client: Any, cfg: bw.WorkerConfig) -> bw.Worker:
    bridge_client = client.service_client._bridge_client  # internal: pinned temporalio
    worker = bw.Worker.create(bridge_client, cfg)
    await worker.validate()
    return worker
