"""``grpc.health.v1.Health`` on the gRPC listener (spec/grpc.md §8.1), honest: SERVING
only while the plugin serves and its pool has a live worker.

Check ignores the requested service name (as RoadRunner does: one plugin-wide status);
Watch sends the status at once and then every change; List answers ``{"grpc": …}``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from grpc_health.v1 import health_pb2

SERVICE = "grpc.health.v1.Health"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
# the pool gives no event when its last worker dies: Watch re-reads this often
POLL = 1.0


class HealthState:
    def __init__(self, alive: Callable[[], bool]) -> None:
        self._alive = alive
        self.serving = False
        self.closed = False
        self._changed = asyncio.Event()
        self.watchers = 0
        self._no_watchers = asyncio.Event()
        self._no_watchers.set()

    def status(self) -> int:
        return SERVING if self.serving and self._alive() else NOT_SERVING

    def set_serving(self, serving: bool) -> None:
        self.serving = serving
        self._changed.set()

    def close(self) -> None:
        """Stopping: watchers get NOT_SERVING and their streams end, so they do not hold
        the graceful stop for the whole grace period."""
        self.serving = False
        self.closed = True
        self._changed.set()

    def watch_started(self) -> None:
        self.watchers += 1
        self._no_watchers.clear()

    def watch_ended(self) -> None:
        self.watchers -= 1
        if self.watchers == 0:
            self._no_watchers.set()

    async def watchers_done(self, timeout: float) -> None:
        """Wait (bounded) until every Watch stream has sent its last status: stopping the
        server while one is still writing could end it with no NOT_SERVING sent."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._no_watchers.wait(), timeout)

    async def changes(self) -> AsyncIterator[int]:
        last = -1
        while True:
            now = self.status()
            if now != last:
                last = now
                yield now
            if self.closed:
                return
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), POLL)


class HealthHandler(grpc.GenericRpcHandler):
    def __init__(self, state: HealthState, observe: Callable[[str, str, float], None]) -> None:
        self.state = state
        self._observe = observe
        self._table = {
            f"/{SERVICE}/Check": grpc.unary_unary_rpc_method_handler(self._check),
            f"/{SERVICE}/List": grpc.unary_unary_rpc_method_handler(self._list),
            f"/{SERVICE}/Watch": grpc.unary_stream_rpc_method_handler(self._watch),
        }

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        return self._table.get(details.method)

    async def _check(self, body: bytes, ctx: Any) -> bytes:
        self._observe(f"/{SERVICE}/Check", "OK", 0.0)
        return check_reply(self.state)

    async def _list(self, body: bytes, ctx: Any) -> bytes:
        self._observe(f"/{SERVICE}/List", "OK", 0.0)
        return list_reply(self.state)

    async def _watch(self, body: bytes, ctx: Any) -> AsyncIterator[bytes]:
        async for message in watch_replies(self.state):
            yield message


def check_reply(state: HealthState) -> bytes:
    return health_pb2.HealthCheckResponse(status=state.status()).SerializeToString()


def list_reply(state: HealthState) -> bytes:
    resp = health_pb2.HealthListResponse()
    resp.statuses["grpc"].status = state.status()  # type: ignore[assignment]
    return resp.SerializeToString()


async def watch_replies(state: HealthState) -> AsyncIterator[bytes]:
    """Watch's messages: the status now, then every change, until the plugin stops."""
    state.watch_started()
    try:
        async for status in state.changes():
            yield health_pb2.HealthCheckResponse(status=status).SerializeToString()
    finally:
        state.watch_ended()
