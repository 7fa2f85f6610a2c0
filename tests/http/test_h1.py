"""rr's own HTTP/1.1 connection (rr/http/h1.py) against aiohttp's, byte for byte.

The same ``Entry`` + ``PHPHandler`` in front of a canned pool is served on two ports: one
by ``H1Connection``, one by aiohttp's protocol (rr/http/protocol.py). Every case sends
the same bytes to both and compares what comes back (``Date`` masked) and the payload
the pool was given. The php side and the protections (timeouts, caps, disconnects) are
covered end to end by the rest of tests/http, which runs on this connection.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rr.goridge.frame import CODEC_JSON
from rr.http import h1
from rr.http.accesslog import AccessLog
from rr.http.fastreply import Sent
from rr.http.limits import HttpLimits
from rr.http.protocol import Listener
from rr.pool.errors import NoFreeWorkersError
from rr.pool.payload import Payload
from tests.http.test_fastreply import FAST_CASES, GET, SLOW_CASES, CannedPool, Rig, ctx


class RecordingPool(CannedPool):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Payload] = []
        self.fail: Exception | None = None

    def stream(self, payload: Payload) -> RecordingPool:
        if self.fail is not None:
            raise self.fail
        self.seen.append(payload)
        return self


class Pair:
    def __init__(self, rig: Rig, pool: RecordingPool, ours: int, theirs: int,
                 listener: Listener) -> None:
        self.rig, self.pool, self.ours, self.theirs = rig, pool, ours, theirs
        self.listener = listener

    async def both(self, raw: bytes) -> tuple[bytes, bytes]:
        """The replies of both ports; the payloads they produced must be equal."""
        before = len(self.pool.seen)
        ours = await talk(self.ours, raw)
        mid = len(self.pool.seen)
        theirs = await talk(self.theirs, raw)
        assert [(p.context, p.body) for p in self.pool.seen[before:mid]] == \
            [(p.context, p.body) for p in self.pool.seen[mid:]]
        return ours, theirs


async def talk(port: int, raw: bytes, delay: float = 0.0, quiet: float = 0.5) -> bytes:
    """Send ``raw``, start reading after ``delay``, read until the server closes or is
    quiet for ``quiet`` seconds, mask Date."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    out = b""
    try:
        writer.write(raw)
        if delay:
            await asyncio.sleep(delay)  # the server's writes back up meanwhile
        while True:
            try:
                chunk = await asyncio.wait_for(reader.read(65536), quiet)
            except TimeoutError:
                break
            if not chunk:
                break
            out += chunk
    finally:
        writer.close()
    return re.sub(rb"\r\nDate: [^\r]*\r\n", b"\r\nDate: X\r\n", out)


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[Pair]:
    rig = Rig(tmp_path)
    pool = RecordingPool()
    rig.pool = pool
    log = logging.getLogger("http.test")
    loop = asyncio.get_running_loop()
    listener = Listener(rig.entry, HttpLimits(), log, handler_cancellation=False,
                        access_log=None, max_line_size=65536, max_field_size=65536)
    theirs = Listener(rig.entry, HttpLimits(), log, handler_cancellation=False,
                      access_log=None, max_line_size=65536, max_field_size=65536)
    factory = h1.factory(listener, rig.entry)
    assert factory is not listener
    a = await loop.create_server(factory, "127.0.0.1", 0)
    b = await loop.create_server(theirs, "127.0.0.1", 0)
    try:
        yield Pair(rig, pool, a.sockets[0].getsockname()[1], b.sockets[0].getsockname()[1],
                   listener)
    finally:
        a.close()
        b.close()
        await listener.shutdown(1)
        await theirs.shutdown(1)


@pytest.mark.parametrize(("name", "reply"), FAST_CASES, ids=[c[0] for c in FAST_CASES])
async def test_fast_replies_are_identical(pair: Pair, name: str, reply: Payload) -> None:
    pair.pool.reply = reply
    ours, theirs = await pair.both(GET)
    assert ours == theirs, name
    assert ours.startswith(b"HTTP/1.1 ")


@pytest.mark.parametrize(("name", "request_bytes", "reply"), SLOW_CASES,
                         ids=[c[0] for c in SLOW_CASES])
async def test_unusual_requests_and_replies_are_identical(
        pair: Pair, name: str, request_bytes: bytes, reply: Payload) -> None:
    pair.pool.reply = reply
    ours, theirs = await pair.both(request_bytes)
    assert ours == theirs, name


REQUESTS = [
    ("post body", b"POST /p?q=1&r=%20 HTTP/1.1\r\nHost: h:8080\r\nContent-Type: text/plain"
                  b"\r\nContent-Length: 5\r\n\r\nhello"),
    ("headers", b"GET /h HTTP/1.1\r\nHost: h\r\nx-multi: a\r\nX-MULTI:  b \r\nCookie: a=1;"
                b" b=2\r\nCookie: c=3\r\nUser-Agent: \xc3\xa9\xff\r\n\r\n"),
    ("form", b"POST /f HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded"
             b"\r\nContent-Length: 7\r\n\r\na=1&b=2"),
    ("chunked", b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"3\r\nabc\r\n0\r\n\r\n"),
    ("expect", b"POST /e HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
               b"Content-Length: 2\r\n\r\nok"),
    ("HTTP/0.9", b"GET /\r\n\r\n"),
    ("bad host", b"GET / HTTP/1.1\r\nHost: a/b#\r\n\r\n"),
    ("no host", b"GET / HTTP/1.1\r\n\r\n"),
    ("two hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
    ("garbage", b"\x16\x03\x01\x00\x05hello\r\n\r\n"),
    ("bad header", b"GET / HTTP/1.1\r\nHost: a\r\nX Y: 1\r\n\r\n"),
    ("absolute form", b"GET http://other/x HTTP/1.1\r\nHost: a\r\n\r\n"),
    ("upgrade with body", b"POST /u HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings"
                          b"\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n"
                          b"Content-Length: 3\r\n\r\na=1"),
    ("CONNECT", b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n"),
    ("OPTIONS", b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"),
    ("big body", b"POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 70000\r\n\r\n"
                 + b"x" * 70000),
    ("leading CRLF", b"\r\n\r\nGET /l HTTP/1.1\r\nHost: a\r\n\r\n"),
    ("pipelined mix", b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\n"
                      b"Content-Length: 3\r\n\r\nabc\r\nHEAD /3 HTTP/1.1\r\nHost: a\r\n\r\n"
                      b"GET /4 HTTP/1.1\r\nHost: a\r\n\r\n"),
    ("handed over then bad", b"HEAD /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\n"
                             b"Host\r\n\r\n"),
]
# A valid request pipelined in one read before a malformed one: aiohttp's parser fails the
# whole read and answers only the 400, dropping the valid request unanswered. Here the
# valid request is answered first, then aiohttp's protocol gives the same 400.
BEFORE_BAD = [
    ("direct then bad", b"GET /2 HTTP/1.1\r\nHost\r\n\r\n"),
    ("direct then data after close", b"GET /2 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
                                     b"\r\nGET /3 HTTP/1.1\r\nHost: a\r\n\r\n"),
]


@pytest.mark.parametrize(("name", "raw"), REQUESTS, ids=[c[0] for c in REQUESTS])
async def test_requests_are_answered_identically(pair: Pair, name: str, raw: bytes) -> None:
    pair.pool.reply = Payload(ctx(200, {"Content-Type": ["text/plain"]}), b"ok", CODEC_JSON)
    ours, theirs = await pair.both(raw)
    assert ours == theirs, name


@pytest.mark.parametrize(("name", "bad"), BEFORE_BAD, ids=[c[0] for c in BEFORE_BAD])
async def test_valid_request_before_a_bad_one_is_answered(pair: Pair, name: str,
                                                          bad: bytes) -> None:
    pair.pool.reply = Payload(ctx(200, {"Content-Type": ["text/plain"]}), b"ok", CODEC_JSON)
    first = await talk(pair.theirs, GET)
    ours = await talk(pair.ours, GET + bad)
    theirs_bad = await talk(pair.theirs, bad)
    assert theirs_bad.startswith(b"HTTP/1.0 400 ")
    assert ours == first + theirs_bad, name


async def test_split_writes_are_reassembled(pair: Pair) -> None:
    """A head and body arriving byte by byte give the same payload as one write."""
    pair.pool.reply = Payload(ctx(200, {}), b"ok", CODEC_JSON)
    raw = b"POST /s?x=1 HTTP/1.1\r\nHost: a\r\nX-Long: " + b"v" * 300 + \
        b"\r\nContent-Length: 4\r\n\r\nbody"
    reader, writer = await asyncio.open_connection("127.0.0.1", pair.ours)
    try:
        for i in range(len(raw)):
            writer.write(raw[i:i + 1])
            await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 200 OK")
        assert await reader.readexactly(2) == b"ok"
    finally:
        writer.close()
    split = pair.pool.seen[-1]
    await talk(pair.theirs, raw)
    whole = pair.pool.seen[-1]
    assert (split.context, split.body) == (whole.context, whole.body)


async def test_direct_replies_skip_aiohttp(pair: Pair) -> None:
    """Plain replies on this connection make no aiohttp request (``single`` not called)."""
    pair.pool.reply = Payload(ctx(200, {"Content-Type": ["text/plain"]}), b"pong", CODEC_JSON)
    out = await talk(pair.ours, GET * 3)
    assert out.count(b"HTTP/1.1 200 OK\r\n") == 3
    assert pair.rig.results == []
    # the aiohttp port goes through PHPHandler.single for each
    await talk(pair.theirs, GET)
    assert len(pair.rig.results) == 1 and isinstance(pair.rig.results[0], Sent)


async def test_pool_errors_are_answered_identically(pair: Pair) -> None:
    pair.pool.fail = NoFreeWorkersError()
    ours, theirs = await pair.both(GET)
    assert ours == theirs
    assert ours.startswith(b"HTTP/1.1 500 ") and b"No-Workers: true" in ours


async def test_connections_are_counted_and_handed_over(pair: Pair) -> None:
    """The listener counts these connections; a handed-over one stays counted once."""
    pair.pool.reply = Payload(ctx(200, {}), b"ok", CODEC_JSON)
    reader, writer = await asyncio.open_connection("127.0.0.1", pair.ours)
    try:
        writer.write(GET)
        await reader.readuntil(b"\r\n\r\nok")
        assert pair.listener.open_connections == 1
        writer.write(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n")  # aiohttp's from here on
        await reader.readuntil(b"\r\n\r\n")
        assert pair.listener.open_connections == 1
        writer.write(GET)
        await reader.readuntil(b"\r\n\r\nok")
    finally:
        writer.close()


@pytest.mark.parametrize("raw", [GET, REQUESTS[0][1]], ids=["get", "post body"])
async def test_access_log_entries_are_identical(pair: Pair, raw: bytes,
                                                caplog: pytest.LogCaptureFixture) -> None:
    """The detailed ``http access log`` fields match aiohttp's path (timing masked)."""
    pair.rig.entry.access = AccessLog(logging.getLogger("http.test"), True)
    pair.pool.reply = Payload(ctx(200, {}), b"ok", CODEC_JSON)
    caplog.set_level(logging.INFO, logger="http.test")
    await pair.both(raw)
    entries = [dict(r.fields) for r in caplog.records  # type: ignore[attr-defined]
               if r.getMessage() == "http access log"]
    assert len(entries) == 2
    for e in entries:
        for key in ("start", "elapsed", "request_time", "time_local", "remote_address"):
            assert key in e
            e.pop(key)
    assert entries[0] == entries[1]


async def test_hand_over_after_large_pipelined_replies(pair: Pair) -> None:
    """Large pipelined replies go out while a request to hand over waits behind them;
    the client reads late and gets every reply, in order, as from aiohttp."""
    pair.pool.reply = Payload(ctx(200, {}), b"z" * 300_000, CODEC_JSON)
    raw = GET * 8 + b"HEAD /h HTTP/1.1\r\nHost: a\r\n\r\n" + GET

    ours = await talk(pair.ours, raw, delay=0.5, quiet=2)
    theirs = await talk(pair.theirs, raw, delay=0.5, quiet=2)
    assert ours.count(b"HTTP/1.1 200 OK") == 10
    assert ours == theirs


class FakeTransport:
    """Just what a hand-over touches."""

    def __init__(self) -> None:
        self.protocol: object = None
        self.written = b""

    def get_extra_info(self, name: str, default: object = None) -> object:
        return ("127.0.0.1", 1) if name == "peername" else default

    def set_protocol(self, protocol: object) -> None:
        self.protocol = protocol

    def write(self, data: bytes) -> None:
        self.written += data

    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...
    def is_closing(self) -> bool:
        return False

    def close(self) -> None: ...


async def test_hand_over_waits_until_writing_resumes(pair: Pair) -> None:
    """aiohttp's protocol must not take over a transport whose writing is paused (it
    would get a resume_writing it never paused for)."""
    conn = pair_conn = h1.factory(pair.listener, pair.rig.entry)()
    transport = FakeTransport()
    conn.connection_made(transport)
    conn.pause_writing()
    conn.data_received(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert transport.protocol is None  # held back
    conn.resume_writing()
    assert transport.protocol is not None and transport.protocol is not pair_conn
    assert pair.listener.open_connections == 1  # the aiohttp protocol, counted once
