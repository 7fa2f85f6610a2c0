"""Why an exec failed. The text of each is what RoadRunner users see in logs / debug bodies."""

from __future__ import annotations


class PoolError(Exception):
    """Base class of everything Pool.exec may raise."""


class WorkerError(PoolError):
    """The worker died, broke the protocol or was killed: it has been replaced."""


class SoftJobError(PoolError):
    """The worker answered with an error frame; it stays in the pool."""

    def __init__(self, message: str) -> None:
        super().__init__(f"sync_worker_receive_frame: SoftJobError: {message}")
        self.message = message


class StreamingNotSupportedError(WorkerError):
    """A single-reply call got a STREAM frame; the worker was killed and replaced."""

    def __init__(self) -> None:
        super().__init__("streaming is not supported")


class ExecTTLError(WorkerError):
    def __init__(self) -> None:
        super().__init__("worker_exec_with_timeout: ExecTTL: context deadline exceeded")


class NoFreeWorkersError(PoolError):
    def __init__(self) -> None:
        super().__init__(
            "static_pool_exec: NoFreeWorkers: no free workers in the pool, wait timeout exceed")


class MaxQueueSizeError(PoolError):
    def __init__(self) -> None:
        super().__init__("static_pool_exec: max queue size reached")


class PoolStoppedError(PoolError):
    def __init__(self) -> None:
        super().__init__("pool is stopped")
