"""The pure parts of the gRPC plugin: request context bytes, reply mapping, config,
the per-connection limiter."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from pathlib import Path

import pytest
from google.protobuf import any_pb2
from google.rpc import status_pb2

from rr.config import Section
from rr.errors import ConfigError
from rr.grpc import reply, request
from rr.grpc.config import GrpcConfig, parse_listen
from rr.grpc.limiter import StreamLimiter
from rr.grpc.status import Failure

LOG = logging.getLogger("test")


def test_context_bytes_match_the_reference_example() -> None:
    ctx = request.prefix("rc.echo.v1.Echo", "Ping") + request.context_json(
        [], "ipv4:127.0.0.1:40000", False) + b"}"
    assert ctx == (b'{"service":"rc.echo.v1.Echo","method":"Ping","context":'
                   b'{":peer.address":["127.0.0.1:40000"]}}')
    assert len(ctx) == 93  # spec/grpc.md §4: option 0 of the example frame


def test_context_json_like_go() -> None:
    md = [("x-b", "2"), ("x-a", "<&>"), ("x-a", "é"), ("grpc-timeout", "1S"),
          ("x-k-bin", b"\xff\x00"), ("content-type", "application/grpc")]
    out = request.context_json(md, "ipv6:[::1]:5", True)
    assert out == ('{":peer.address":["[::1]:5"],":peer.auth-type":["tls"],'
                   '"x-a":["\\u003c\\u0026\\u003e","é"],"x-b":["2"],'
                   '"x-k-bin":["\ufffd\\u0000"]}').encode()
    assert request.peer_address("unix:") == "@"


def test_reply_forms() -> None:
    assert reply.decode(b"", b"body", LOG).body == b"body"
    flat = reply.decode(b'{"X-A":"1","b":"2"}', b"x", LOG)
    assert flat.headers == [("x-a", "1"), ("b", "2")] and flat.trailers == []
    new = reply.decode(json.dumps({"headers": '{"h":"1","n":2}', "trailers": '{"t":"2"}',
                                   "other": "ignored"}).encode(), b"x", LOG)
    assert new.headers == [("h", "1")] and new.trailers == [("t", "2")]
    broken = reply.decode(b'{"headers":"{nope"}', b"x", LOG)
    assert broken.headers == []


def test_error_status_with_details() -> None:
    st = status_pb2.Status(code=5, message="gone",
                           details=[any_pb2.Any(type_url="type.googleapis.com/x.Y",
                                                value=b"\x08\x01")])
    raw = st.SerializeToString()
    with pytest.raises(Failure) as info:
        reply.decode(json.dumps({"error": base64.b64encode(raw).decode()}).encode(), b"", LOG)
    assert (info.value.code, info.value.message, info.value.details) == (5, "gone", raw)
    plain = base64.b64encode(status_pb2.Status(code=7, message="no").SerializeToString())
    with pytest.raises(Failure) as info:
        reply.decode(b'{"error":"' + plain + b'"}', b"", LOG)
    assert info.value.details == b""  # no details: no grpc-status-details-bin
    ok = base64.b64encode(status_pb2.Status(code=0).SerializeToString()).decode()
    assert reply.decode(json.dumps({"error": ok}).encode(), b"ignored", LOG).body == b""


@pytest.mark.parametrize(("text", "code", "message"), [
    ("boom", 13, "full"),
    ("7|:|denied", 7, "denied"),
    ("0|:|zero", 13, "zero"),
    ("x|:|nan", 2, "full"),
    ("5", 13, "full"),
])
def test_error_frames(text: str, code: int, message: str) -> None:
    f = reply.error_frame(text, "full")
    assert (f.code, f.message) == (code, message)


def test_legacy_error_details() -> None:
    detail = any_pb2.Any(type_url="type.googleapis.com/x.Y", value=b"").SerializeToString()
    f = reply.error_frame("3|:|bad|:|" + detail.decode(), "full")
    st = status_pb2.Status.FromString(f.details)
    assert st.code == 3 and st.details[0].type_url == "type.googleapis.com/x.Y"


def test_invalid_header_names_are_dropped() -> None:
    assert reply.metadata({"bad name": "v", "grpc-status": "0", "ok": "é", "k-bin": "\x00",
                           "fine": "v"}, LOG) == [("k-bin", b"\x00"), ("fine", "v")]


def test_config_defaults_and_errors(tmp_path: Path) -> None:
    cfg = GrpcConfig.from_section(Section({"listen": "tcp://127.0.0.1:9001",
                                           "proto": "a.proto,b.proto"}, "grpc"))
    o = cfg.server
    assert cfg.proto == ("a.proto", "b.proto")
    assert (o.max_recv_msg_size, o.max_send_msg_size) == (50 << 20, 50 << 20)
    assert (o.max_concurrent_streams, o.ping_time, o.timeout) == (10, 7200.0, 20.0)
    assert o.tls is None and o.listen.address == "127.0.0.1:9001"
    assert parse_listen("unix:///tmp/x.sock").grpc_target == "unix:/tmp/x.sock"
    for bad in ("", "localhost", "tcp://host:port"):
        with pytest.raises(ConfigError, match="malformed grpc address"):
            parse_listen(bad)
    with pytest.raises(ConfigError, match="at least one proto"):
        GrpcConfig.from_section(Section({"listen": ":1"}, "grpc"))
    with pytest.raises(ConfigError, match="expected an integer"):
        GrpcConfig.from_section(Section({"listen": ":1", "proto": "a",
                                         "max_recv_msg_size": "big"}, "grpc"))
    (tmp_path / "k").write_text("k")
    (tmp_path / "c").write_text("c")
    with pytest.raises(ConfigError, match="root ca path provided, but root ca file"):
        GrpcConfig.from_section(Section({"listen": ":1", "proto": "a", "tls": {
            "key": str(tmp_path / "k"), "cert": str(tmp_path / "c"), "root_ca": "nope"}},
            "grpc"))


async def test_limiter_queues_per_peer_and_forgets_idle_peers() -> None:
    lim = StreamLimiter(1)
    await lim.acquire("a")
    await lim.acquire("b")  # another connection is not held up
    waiter = asyncio.ensure_future(lim.acquire("a"))
    cancelled = asyncio.ensure_future(lim.acquire("a"))
    await asyncio.sleep(0)
    assert not waiter.done()
    cancelled.cancel()
    await asyncio.sleep(0)
    lim.release("a")
    await asyncio.wait_for(waiter, 1)
    lim.release("a")
    lim.release("b")
    assert lim._active == {} and lim._waiting == {}
