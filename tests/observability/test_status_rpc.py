"""status.Status / status.Ready over a real RPC connection (proto and JSON codecs), and
informer.Workers vs /metrics."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from rr.goridge.frame import CODEC_JSON, CODEC_PROTO
from rr.goridge.rpc import RPCClient, RPCClientError
from rr.status.proto import status_pb2
from tests.observability.conftest import Stack
from tests.observability.test_pool_health import gauge, get

pytestmark = pytest.mark.php


def call(address: str, fn, *args):  # type: ignore[no-untyped-def]
    """The blocking client in a thread: the server runs on this test's event loop."""
    def go():  # type: ignore[no-untyped-def]
        with RPCClient(address) as c:
            return fn(c, *args)

    return asyncio.to_thread(go)


async def test_status_and_ready_proto(stack: Stack) -> None:
    for method in ("status.Status", "status.Ready"):
        reply = await call(stack.rpc_address, lambda c, m: c.call_proto(
            m, status_pb2.Request(plugin="http"), status_pb2.Response), method)
        assert reply.code == 200


async def test_status_and_ready_json(stack: Stack) -> None:
    assert await call(stack.rpc_address, lambda c: c.call("status.Status",
                                                          {"plugin": "http"})) == {"code": 200}
    assert await call(stack.rpc_address, lambda c: c.call("status.Ready",
                                                          {"plugin": "http"})) == {"code": 200}


async def test_ready_rpc_reports_503_without_workers(stack: Stack) -> None:
    stack.marker.write_text("stop")
    for w in stack.pool.workers():
        os.kill(w.to_dict()["pid"], signal.SIGKILL)
    for _ in range(200):
        reply = await call(stack.rpc_address, lambda c: c.call("status.Ready",
                                                               {"plugin": "http"}))
        if reply == {"code": 503}:
            break
        await asyncio.sleep(0.1)
    assert reply == {"code": 503}
    stack.marker.unlink()


@pytest.mark.parametrize(("method", "body", "codec", "error"), [
    ("status.Status", status_pb2.Request(plugin="nope").SerializeToString(), CODEC_PROTO,
     "no such plugin: nope"),
    ("status.Ready", b'{"plugin":"metrics"}', CODEC_JSON, "no such plugin: metrics"),
    ("status.Ready", b"\xff\xff\xff", CODEC_PROTO, "cannot parse"),
    ("status.Ready", b"{bad json", CODEC_JSON, "invalid JSON"),
    ("status.Status", b"[1,2]", CODEC_JSON, "expected"),
])
async def test_rpc_errors(stack: Stack, method: str, body: bytes, codec: int,
                          error: str) -> None:
    def go(c: RPCClient) -> str:
        with pytest.raises(RPCClientError) as e:
            c.call_raw(method, body, codec)
        # the connection stays usable after an error reply
        assert c.call("status.Status", {"plugin": "http"}) == {"code": 200}
        return str(e.value)

    assert error in await call(stack.rpc_address, go)


async def test_informer_and_metrics_agree(stack: Stack) -> None:
    informer = await call(stack.rpc_address, lambda c: c.call("informer.Workers", "http"))
    _, text = await get(stack.metrics_url + "/metrics")
    workers = informer["workers"]
    assert len(workers) == 2
    states = gauge(text, "rr_http_worker_state")
    assert set(states) == {f'{{pid="{w["pid"]}",state="{w["statusStr"]}"}}' for w in workers}
    # memory is sampled at each call; both views see the same processes, same magnitude
    memory = gauge(text, "rr_http_worker_memory_bytes")
    for w in workers:
        sampled = memory[f'{{pid="{w["pid"]}"}}']
        assert 0.5 < sampled / w["memoryUsage"] < 2
