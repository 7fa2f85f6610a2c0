"""The native front's HTTP/2 in-process, driven frame by frame with the ``h2`` client
(and grpcio where a real gRPC client says more): flow control both ways, CONTINUATION,
messages split across frames, hostile input, deadlines, resets and the graceful stop."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import grpc
import h2.config
import h2.connection
import h2.events
import h2.settings
import pytest

from rr.grpc import h2wire as w
from rr.pool.payload import Payload
from tests.grpc.test_inprocess import counted, serving

ECHO = "/rc.test.v1.Test/Echo"


def grpc_message(body: bytes) -> bytes:
    return b"\x00" + len(body).to_bytes(4, "big") + body


class RawClient:
    """An h2 client connection over asyncio streams; the test drives every frame."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 conn: h2.connection.H2Connection) -> None:
        self.reader, self.writer, self.conn = reader, writer, conn
        self.events: list[h2.events.Event] = []
        self.data: dict[int, bytearray] = {}

    @classmethod
    async def open(cls, port: int, window: int | None = None) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        conn = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=True, header_encoding=None))
        conn.initiate_connection()
        if window is not None:
            conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window})
        c = cls(reader, writer, conn)
        c.flush()
        return c

    def flush(self) -> None:
        self.writer.write(self.conn.data_to_send())

    def request(self, path: str = ECHO, body: bytes | None = b"", extra: list[Any] | None = None,
                end: bool = True, content_type: str = "application/grpc") -> int:
        sid = self.conn.get_next_available_stream_id()
        headers = [(":method", "POST"), (":scheme", "http"), (":path", path),
                   (":authority", "test"), ("content-type", content_type),
                   ("te", "trailers"), *(extra or [])]
        self.conn.send_headers(sid, headers, end_stream=body is None and end)
        if body is not None:
            self.conn.send_data(sid, grpc_message(body), end_stream=end)
        self.flush()
        return sid

    async def until(self, pred: Any, ack: bool = True) -> list[h2.events.Event]:
        """Read until an event matches ``pred``; DATA is acknowledged (window) unless not."""
        while True:
            for e in self.events:
                if pred(e):
                    return self.events
            chunk = await asyncio.wait_for(self.reader.read(65536), 30)
            if not chunk:
                raise ConnectionError("closed by the server")
            for e in self.conn.receive_data(chunk):
                self.events.append(e)
                if isinstance(e, h2.events.DataReceived):
                    self.data.setdefault(e.stream_id, bytearray()).extend(e.data)
                    if ack and e.flow_controlled_length:
                        self.conn.acknowledge_received_data(e.flow_controlled_length,
                                                            e.stream_id)
            self.flush()

    async def trailers(self, sid: int) -> dict[bytes, bytes]:
        def done(e: h2.events.Event) -> bool:
            return isinstance(e, h2.events.TrailersReceived | h2.events.ResponseReceived) \
                and e.stream_id == sid and e.stream_ended is not None
        await self.until(done)
        found = [e for e in self.events if isinstance(
            e, h2.events.TrailersReceived | h2.events.ResponseReceived) and e.stream_id == sid
            and e.stream_ended is not None][-1]
        return dict(found.headers)

    def close(self) -> None:
        self.writer.close()


@pytest.fixture
async def native() -> AsyncIterator[tuple[Any, int, Any]]:
    async with serving() as (pool, port, registry, _):
        yield pool, port, registry


async def test_reply_larger_than_the_client_window_waits_for_window_updates(native) -> None:  # type: ignore[no-untyped-def]
    pool, port, _ = native
    big = bytes(range(256)) * 400  # 102400 bytes
    pool.script = lambda p: Payload(b"{}", big)
    c = await RawClient.open(port, window=1000)
    sid = c.request(body=b"x")
    got = await c.trailers(sid)
    assert got[b"grpc-status"] == b"0"
    assert bytes(c.data[sid]) == grpc_message(big)
    c.close()


async def test_request_in_pieces_with_continuation(native) -> None:  # type: ignore[no-untyped-def]
    pool, port, _ = native
    c = await RawClient.open(port)
    # > 16 KiB of headers: HEADERS + CONTINUATION
    sid = c.request(body=None, end=False, extra=[("x-big", "v" * 40000)])
    msg = grpc_message(b"hello world")
    for i in range(0, len(msg), 3):  # the 5-byte prefix split across DATA frames too
        c.conn.send_data(sid, msg[i:i + 3])
    c.conn.end_stream(sid)
    c.flush()
    assert (await c.trailers(sid))[b"grpc-status"] == b"0"
    assert bytes(c.data[sid]) == msg
    sent = pool.seen[-1]
    assert sent.body == b"hello world"
    assert b'"x-big":["' + b"v" * 40000 + b'"]' in sent.context
    assert b'":authority":["test"]' in sent.context
    c.close()


async def test_request_larger_than_max_is_refused_before_it_arrives() -> None:
    async with serving(max_recv_msg_size=1024) as (pool, port, _, _srv), \
            grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await ch.unary_unary(ECHO)(b"x" * 5000, timeout=10)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert info.value.details() == "grpc: received message larger than max (5000 vs. 1024)"
        assert pool.seen == []
        assert await ch.unary_unary(ECHO)(b"ok", timeout=10) == b"ok"


async def test_gzip_request(native) -> None:  # type: ignore[no-untyped-def]
    _, port, _ = native
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
        got = await ch.unary_unary(ECHO)(b"z" * 3000, timeout=10,
                                         compression=grpc.Compression.Gzip)
    assert got == b"z" * 3000


@pytest.mark.parametrize("junk", [
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"\x00\xff" * 100,
    w.PREFACE + w.window_update(0, 0),  # an increment of 0 on the connection
    w.PREFACE + b"\xff\xff\xff\x00\x00\x00\x00\x00\x00",  # a frame over the frame size
])
async def test_hostile_bytes_get_goaway_and_the_server_serves_on(native, junk: bytes) -> None:  # type: ignore[no-untyped-def]
    _, port, _ = native
    got = await _exchange(port, junk)
    assert w.GOAWAY in _frame_types(got)
    assert await _echo(port, b"after") == b"after"


async def test_headers_flood_is_refused_beyond_the_advertised_limit(native) -> None:  # type: ignore[no-untyped-def]
    _, port, _ = native
    c = await RawClient.open(port)
    await c.until(lambda e: isinstance(e, h2.events.RemoteSettingsChanged))
    limit = c.conn.remote_settings.max_concurrent_streams
    c.conn.remote_settings = h2.settings.Settings(client=False)  # ignore the limit on purpose
    c.conn.remote_settings.max_concurrent_streams = 10 * limit
    sids = [c.request(body=None, end=False) for _ in range(limit + 50)]
    await c.until(lambda e: isinstance(e, h2.events.StreamReset) and e.stream_id == sids[-1])
    refused = [e for e in c.events if isinstance(e, h2.events.StreamReset)]
    assert len(refused) == 50
    assert all(e.error_code == w.REFUSED_STREAM for e in refused)
    c.close()
    assert await _echo(port, b"still") == b"still"


async def test_endless_continuation_is_cut_off(native) -> None:  # type: ignore[no-untyped-def]
    _, port, _ = native
    got = await _silent_client(port, w.frame(w.HEADERS, 0, 1, b"\x82") + w.frame(
        w.CONTINUATION, 0, 1, b"\x40\x01a\x01b" * 2000) * 20)
    assert w.ENHANCE_YOUR_CALM.to_bytes(4, "big") + b"header block too large" in got


async def test_client_reset_mid_call_cancels_the_pool_call(native) -> None:  # type: ignore[no-untyped-def]
    pool, port, registry = native
    pool.gate = asyncio.Event()
    c = await RawClient.open(port)
    sid = c.request(body=b"x")
    while not pool.seen:
        await asyncio.sleep(0.01)
    c.conn.reset_stream(sid, w.CANCEL)
    c.flush()
    await counted(registry, ECHO, "Canceled")
    assert registry.get_sample_value("rr_grpc_requests_queue") == 0.0
    pool.gate = None
    sid = c.request(body=b"next")  # the connection is fine
    assert (await c.trailers(sid))[b"grpc-status"] == b"0"
    c.close()


async def test_grpc_timeout_ends_the_call_with_deadline_exceeded(native) -> None:  # type: ignore[no-untyped-def]
    pool, port, registry = native
    pool.gate = asyncio.Event()  # never opened: only the deadline ends the call
    c = await RawClient.open(port)
    sid = c.request(body=b"x", extra=[("grpc-timeout", "200m")])
    got = await c.trailers(sid)
    assert (got[b"grpc-status"], got[b"grpc-message"]) == (b"4", b"context deadline exceeded")
    await counted(registry, ECHO, "DeadlineExceeded")
    c.close()


async def test_ping_and_settings_are_acknowledged(native) -> None:  # type: ignore[no-untyped-def]
    _, port, _ = native
    c = await RawClient.open(port)
    c.conn.ping(b"12345678")
    c.flush()
    await c.until(lambda e: isinstance(e, h2.events.PingAckReceived))
    await c.until(lambda e: isinstance(e, h2.events.SettingsAcknowledged))
    c.close()


async def test_not_grpc_content_type_is_415(native) -> None:  # type: ignore[no-untyped-def]
    _, port, _ = native
    c = await RawClient.open(port)
    sid = c.request(body=None, content_type="text/plain")
    got = await c.trailers(sid)
    assert got[b":status"] == b"415"
    c.close()


async def test_stop_lets_in_flight_calls_finish_and_refuses_new_ones() -> None:
    async with serving() as (pool, port, _, srv):
        pool.gate = asyncio.Event()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
            call = ch.unary_unary(ECHO)(b"in flight", timeout=30)
            while not pool.seen:
                await asyncio.sleep(0.01)
            stopping = asyncio.ensure_future(srv.stop(30))
            while srv.connections and not all(c.goaway_sent for c in srv.connections):
                await asyncio.sleep(0.01)
            with pytest.raises(OSError):  # the listener is closed
                socket.create_connection(("127.0.0.1", port), timeout=5).close()
            pool.gate.set()
            assert await call == b"in flight"
            await asyncio.wait_for(stopping, 30)


async def test_stop_cancels_what_outlives_the_grace() -> None:
    async with serving() as (pool, port, _, srv):
        pool.gate = asyncio.Event()  # never opened
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
            call = ch.unary_unary(ECHO)(b"stuck", timeout=30)
            while not pool.seen:
                await asyncio.sleep(0.01)
            await srv.stop(0.2)
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await call
            assert info.value.code() in (grpc.StatusCode.CANCELLED,
                                         grpc.StatusCode.UNAVAILABLE)


def _frame_types(data: bytes) -> list[int]:
    """The types of the whole frames in what a server sent."""
    types, pos = [], 0
    while len(data) - pos >= 9:
        types.append(data[pos + 3])
        pos += 9 + int.from_bytes(data[pos:pos + 3], "big")
    return types


async def _echo(port: int, body: bytes) -> bytes:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
        return await ch.unary_unary(ECHO)(body, timeout=10)  # type: ignore[no-any-return]


async def _silent_client(port: int, extra: bytes = b"") -> bytes:
    """Preface + SETTINGS (+ extra), then read what the server sends until it closes."""
    return await _exchange(port, w.PREFACE + w.settings({}) + extra)


async def _exchange(port: int, data: bytes) -> bytes:
    """Send raw bytes, then read everything the server sends until it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    try:
        return await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()


async def test_a_client_that_never_acks_the_keepalive_ping_is_closed() -> None:
    async with serving(ping_time=1.0, timeout=0.5) as (_, port, _r, _s):
        got = await _silent_client(port)
    assert w.frame(w.PING, 0, 0, b"rr-keep!") in got


async def test_connection_age_sends_goaway() -> None:
    async with serving(max_connection_age=0.3, max_connection_age_grace=0.3) as (_, port, _r, _s):
        got = await _silent_client(port)
    assert w.goaway(0, w.NO_ERROR) in got


async def test_ping_flood_gets_enhance_your_calm(native) -> None:  # type: ignore[no-untyped-def]
    _, port, _ = native
    got = await _silent_client(port, w.frame(w.PING, 0, 0, b"flooding") * 1200)
    assert w.ENHANCE_YOUR_CALM.to_bytes(4, "big") + b"too_many_pings" in got
