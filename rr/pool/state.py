"""The worker state machine; numbers and names are what the informer reports."""

from __future__ import annotations

from enum import IntEnum


class WorkerState(IntEnum):
    INACTIVE = 0
    READY = 1
    WORKING = 2
    INVALID = 3
    STOPPING = 4
    STOPPED = 5
    DESTROYED = 6
    MAX_JOBS_REACHED = 7
    ERRORED = 8
    IDLE_TTL_REACHED = 9
    TTL_REACHED = 10
    MAX_MEMORY_REACHED = 11
    # RoadRunner v2025 prints "undefined" for this state; we name it.
    EXEC_TTL_REACHED = 12

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    WorkerState.INACTIVE: "inactive",
    WorkerState.READY: "ready",
    WorkerState.WORKING: "working",
    WorkerState.INVALID: "invalid",
    WorkerState.STOPPING: "stopping",
    WorkerState.STOPPED: "stopped",
    WorkerState.DESTROYED: "destroyed",
    WorkerState.MAX_JOBS_REACHED: "maxJobsReached",
    WorkerState.ERRORED: "errored",
    WorkerState.IDLE_TTL_REACHED: "idleTTLReached",
    WorkerState.TTL_REACHED: "ttlReached",
    WorkerState.MAX_MEMORY_REACHED: "maxMemoryReached",
    WorkerState.EXEC_TTL_REACHED: "execTTLReached",
}
