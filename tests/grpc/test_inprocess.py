"""Both fronts (native and grpcio) in-process, with a scripted pool instead of PHP: pool
failures → status codes, metric labels, the request payload, server options. Every test
taking ``stack`` or ``front`` runs on each front."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest
from prometheus_client import CollectorRegistry

from rr.grpc import protos
from rr.grpc import server as servers
from rr.grpc.config import Listen, ServerOptions
from rr.grpc.health import HealthState
from rr.grpc.limiter import StreamLimiter
from rr.grpc.metrics import grpc_metrics
from rr.grpc.native import NativeServer
from rr.grpc.proxy import Proxy
from rr.grpc.routes import Routes
from rr.pool.errors import (
    ExecTTLError,
    NoFreeWorkersError,
    PoolError,
    SoftJobError,
    StreamingNotSupportedError,
)
from rr.pool.payload import Payload
from tests.grpc.conftest import PROTO_DIR
from tests.helpers import free_port

Script = Callable[[Payload], Payload]


class ScriptedPool:
    """Answers like a pool would, from a function; records what it was given."""

    def __init__(self) -> None:
        self.script: Script = lambda p: Payload(b"{}", p.body)
        self.seen: list[Payload] = []

        self.gate: asyncio.Event | None = None  # set: calls wait for it

    async def exec(self, payload: Payload) -> Payload:
        self.seen.append(payload)
        if self.gate is not None:
            await self.gate.wait()
        return self.script(payload)


FRONTS = ("native", "grpcio")


@contextlib.asynccontextmanager
async def running(limit: int = 10, front: str = "native", **options: Any
                  ) -> AsyncIterator[tuple[ScriptedPool, grpc.aio.Channel, CollectorRegistry]]:
    async with serving(limit, front, **options) as (pool, port, registry, _):
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        try:
            yield pool, channel, registry
        finally:
            await channel.close()


@contextlib.asynccontextmanager
async def serving(limit: int = 10, front: str = "native", **options: Any
                  ) -> AsyncIterator[tuple[ScriptedPool, int, CollectorRegistry, Any]]:
    """A front on a free port with a scripted pool: (pool, port, registry, server)."""
    pset = protos.load(["test.proto"], PROTO_DIR)
    pool = ScriptedPool()
    registry = CollectorRegistry()
    log = logging.getLogger("test")
    port = free_port()
    o = ServerOptions(Listen(f"127.0.0.1:{port}"), max_concurrent_streams=limit, **options)
    srv: Any
    if front == "native":
        state = HealthState(lambda: True)
        state.set_serving(True)
        srv = NativeServer(o, Routes(pset, state, log), lambda: pool,  # type: ignore[arg-type, return-value]
                           log, grpc_metrics(registry))
        await srv.start()
    else:
        proxy = Proxy(lambda: pool, pset, StreamLimiter(limit), False,  # type: ignore[arg-type, return-value]
                      log, grpc_metrics(registry))
        srv = servers.build(o, [proxy])
        await srv.start()
    try:
        yield pool, port, registry, srv
    finally:
        await srv.stop(0)


async def counted(registry: CollectorRegistry, method: str, status: str) -> None:
    """Until the call is in ``rr_grpc_request_total`` (bounded by the caller's timeout)."""
    labels = {"grpc_method": method, "status_code": status}
    while registry.get_sample_value("rr_grpc_request_total", labels) != 1.0:
        await asyncio.sleep(0.01)


@pytest.fixture(params=FRONTS)
def front(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def stack(front: str) -> AsyncIterator[tuple[ScriptedPool, grpc.aio.Channel,
                                                   CollectorRegistry]]:
    async with running(front=front) as parts:
        yield parts


def _raise(e: BaseException) -> Script:
    def fail(_: Payload) -> Payload:
        raise e
    return fail


@pytest.mark.parametrize(("error", "code", "text"), [
    (NoFreeWorkersError(), grpc.StatusCode.INTERNAL, "static_pool_exec: NoFreeWorkers"),
    (ExecTTLError(), grpc.StatusCode.INTERNAL, "worker_exec_with_timeout: ExecTTL"),
    (StreamingNotSupportedError(), grpc.StatusCode.UNKNOWN, "streaming is not supported"),
    (SoftJobError("4|:|slow"), grpc.StatusCode.DEADLINE_EXCEEDED, "slow"),
    (PoolError("pool is stopped"), grpc.StatusCode.INTERNAL, "pool is stopped"),
])
async def test_pool_failures_map_to_status(stack, error: BaseException,  # type: ignore[no-untyped-def]
                                           code: grpc.StatusCode, text: str) -> None:
    pool, channel, registry = stack
    pool.script = _raise(error)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await channel.unary_unary("/rc.test.v1.Test/Echo")(b"\x0a\x01x", timeout=10)
    assert info.value.code() == code
    assert text in (info.value.details() or "")
    label = {"INTERNAL": "Internal", "UNKNOWN": "Unknown",
             "DEADLINE_EXCEEDED": "DeadlineExceeded"}[code.name]
    # grpcio's handler counts the call after the status went out: wait for it
    await counted(registry, "/rc.test.v1.Test/Echo", label)


async def test_payload_to_the_pool_and_bytes_back(stack) -> None:  # type: ignore[no-untyped-def]
    pool, channel, registry = stack
    pool.script = lambda p: Payload(b'{"x-a":"1"}', b"\xff\x00raw")
    call = channel.unary_unary("/rc.test.v1.Test/Meta")(b"\x00\x01", metadata=(("k", "v"),),
                                                       timeout=10)
    assert await call == b"\xff\x00raw"
    assert dict(await call.initial_metadata())["x-a"] == "1"
    sent = pool.seen[-1]
    assert sent.flags == 0x08 and sent.body == b"\x00\x01"
    ctx = json.loads(sent.context)
    assert (ctx["service"], ctx["method"], ctx["context"]["k"]) == (
        "rc.test.v1.Test", "Meta", ["v"])
    assert registry.get_sample_value("rr_grpc_requests_queue") == 0.0


def test_channel_options_map_the_config() -> None:
    opts = dict(servers.channel_options(ServerOptions(
        Listen("127.0.0.1:1"), max_recv_msg_size=3, max_send_msg_size=4,
        max_connection_idle=5.0, max_connection_age=6.0, max_connection_age_grace=7.0,
        ping_time=8.0, timeout=9.0)))
    assert opts["grpc.max_receive_message_length"] == 3
    assert opts["grpc.max_send_message_length"] == 4
    assert opts["grpc.max_connection_idle_ms"] == 5000
    assert opts["grpc.max_connection_age_ms"] == 6000
    assert opts["grpc.max_connection_age_grace_ms"] == 7000
    assert (opts["grpc.keepalive_time_ms"], opts["grpc.keepalive_timeout_ms"]) == (8000, 9000)
    assert "grpc.max_concurrent_streams" not in opts  # enforced by StreamLimiter instead
    infinite = dict(servers.channel_options(ServerOptions(Listen("127.0.0.1:1"))))
    assert "grpc.max_connection_age_ms" not in infinite


async def test_a_call_that_gives_up_in_the_stream_queue_leaves_no_trace(front: str) -> None:
    async with running(limit=1, front=front) as (pool, channel, registry):
        pool.gate = asyncio.Event()
        echo = channel.unary_unary("/rc.test.v1.Test/Echo")
        first = asyncio.ensure_future(echo(b"\x0a\x011", timeout=30))
        await asyncio.sleep(0.2)
        with pytest.raises(grpc.aio.AioRpcError) as info:  # queued behind the first
            await echo(b"\x0a\x012", timeout=0.3)
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        await asyncio.sleep(0.3)  # the server learns of the reset stream a moment later
        assert len(pool.seen) == 1  # it never reached the pool
        pool.gate.set()
        assert await first == b"\x0a\x011"
        assert await echo(b"\x0a\x013", timeout=10) == b"\x0a\x013"
        await asyncio.sleep(0.1)
        assert registry.get_sample_value("rr_grpc_requests_queue") == 0.0
        assert registry.get_sample_value("rr_grpc_request_total", {
            "grpc_method": "/rc.test.v1.Test/Echo", "status_code": "DeadlineExceeded"}) == 1.0
