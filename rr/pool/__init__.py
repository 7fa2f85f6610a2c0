"""PHP worker processes and the pools that own them (spec/worker-protocol.md)."""

from rr.pool.errors import (
    ExecTTLError,
    MaxQueueSizeError,
    NoFreeWorkersError,
    PoolError,
    SoftJobError,
    WorkerError,
)
from rr.pool.payload import Payload
from rr.pool.state import WorkerState

__all__ = [
    "ExecTTLError", "MaxQueueSizeError", "NoFreeWorkersError", "Payload", "PoolError",
    "SoftJobError", "WorkerError", "WorkerState",
]
