"""The fast reply path writes exactly the bytes aiohttp's response machinery would.

An in-process aiohttp server runs the real ``PHPHandler`` + ``Entry`` in front of a canned
pool (the php side is covered end to end in test_http.py); every case is answered once
with the fast path on and once with it off, and the raw bytes are compared (``Date``
masked).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from rr.config import Config
from rr.goridge.frame import CODEC_JSON
from rr.http.accesslog import AccessLog
from rr.http.entry import Entry
from rr.http.fastreply import Sent
from rr.http.php import _HTML_PREFIXES, HandlerConfig, PHPHandler, sniff
from rr.http.uploads import UploadsConfig
from rr.pool.payload import Payload


class CannedPool:
    """Answers every request with the next prepared single-frame reply."""

    def __init__(self) -> None:
        self.reply = Payload(b"", b"", CODEC_JSON)

    def stream(self, payload: Payload) -> CannedPool:
        return self

    async def __aenter__(self) -> AsyncIterator[Payload]:
        async def frames() -> AsyncIterator[Payload]:
            yield self.reply
        return frames()

    async def __aexit__(self, *exc: object) -> None:
        return None


class Rig:
    def __init__(self, tmp: Path) -> None:
        self.pool = CannedPool()
        log = logging.getLogger("http.test")
        config = Config({"version": "3", "http": {}}, workdir=tmp)
        cfg = HandlerConfig(max_request_size=1 << 20, raw_body=False, internal_error_code=500,
                            debug=False, uploads=UploadsConfig.from_config(
                                config.section("http"), config.section("server")))
        self.php = PHPHandler(lambda: self.pool, cfg, "http", log)  # type: ignore[arg-type, return-value]
        self.php.hooks_possible = False
        self.results: list[object] = []
        inner = self.php.single

        def spy(request: web.BaseRequest, p: Payload) -> web.StreamResponse:
            resp = inner(request, p)
            self.results.append(resp)
            return resp

        self.php.single = spy  # type: ignore[method-assign]
        self.entry = Entry(self.php, AccessLog(log, False), log)


async def exchange(port: int, raw: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        m = re.search(rb"\r\nContent-Length: (\d+)\r\n", head)
        if raw.startswith(b"HEAD") or head[9:12] in (b"204", b"304"):
            rest = b""
        elif m is None:  # delimited by the end of the connection
            rest = await asyncio.wait_for(reader.read(), 10)
        else:
            rest = await asyncio.wait_for(reader.readexactly(int(m.group(1))), 10)
        return re.sub(rb"\r\nDate: [^\r]*\r\n", b"\r\nDate: X\r\n", head + rest)
    finally:
        writer.close()


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[tuple[Rig, int]]:
    r = Rig(tmp_path)
    server = web.Server(r.entry, handler_cancellation=False, access_log=None)
    srv = await asyncio.get_running_loop().create_server(server, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        yield r, port
    finally:
        srv.close()
        await server.shutdown(1)


def ctx(status: int, headers: dict[str, Any]) -> bytes:
    return json.dumps({"status": status, "headers": headers}).encode()


GET = b"GET /x?y=1 HTTP/1.1\r\nHost: a\r\n\r\n"
FAST_CASES: list[tuple[str, Payload]] = [
    ("no context, text", Payload(b"", b"hello", CODEC_JSON)),
    ("no context, html", Payload(b"", b"<html><body>hi", CODEC_JSON)),
    ("typed", Payload(ctx(200, {"Content-Type": ["text/plain"]}), b"hi", CODEC_JSON)),
    ("multi values", Payload(ctx(201, {"X-Multi": ["a", "b"], "Set-Cookie": ["a=1", "b=2"],
                                       "content-type": ["application/json"]}),
                             b"{}", CODEC_JSON)),
    ("sniffed", Payload(ctx(404, {"X-A": ["1"]}), b"\x00\x01binary", CODEC_JSON)),
    ("empty body", Payload(ctx(200, {}), b"", CODEC_JSON)),
    ("wrong length", Payload(ctx(200, {"Content-Length": ["999"]}), b"abc", CODEC_JSON)),
    ("own server", Payload(ctx(500, {"Server": ["php"]}), b"x", CODEC_JSON)),
    ("plain string value", Payload(ctx(200, {"X-Plain": "v"}), b"x", CODEC_JSON)),
    ("unicode header", Payload(ctx(200, {"X-U": ["héllo"]}), b"x", CODEC_JSON)),
]
SLOW_CASES: list[tuple[str, bytes, Payload]] = [
    ("HEAD", b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", Payload(ctx(200, {}), b"abc", CODEC_JSON)),
    ("HTTP/1.0", b"GET / HTTP/1.0\r\nHost: a\r\n\r\n", Payload(ctx(200, {}), b"abc", CODEC_JSON)),
    ("HTTP/1.0 keep-alive", b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
     Payload(ctx(200, {}), b"abc", CODEC_JSON)),
    ("close", b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
     Payload(ctx(200, {}), b"abc", CODEC_JSON)),
    ("204", GET, Payload(ctx(204, {}), b"", CODEC_JSON)),
    ("304", GET, Payload(ctx(304, {"Etag": ["x"]}), b"", CODEC_JSON)),
    ("unknown reason", GET, Payload(ctx(299, {}), b"abc", CODEC_JSON)),
    ("connection header", GET, Payload(ctx(200, {"Connection": ["close"]}), b"a", CODEC_JSON)),
    ("trailer", GET, Payload(ctx(200, {"Trailer": ["X-T"], "X-T": ["1"]}), b"a", CODEC_JSON)),
    ("own date", GET, Payload(ctx(200, {"Date": ["yesterday"]}), b"a", CODEC_JSON)),
    ("big body", GET, Payload(ctx(200, {}), b"z" * 70000, CODEC_JSON)),
]


@pytest.mark.parametrize(("name", "reply"), FAST_CASES, ids=[c[0] for c in FAST_CASES])
async def test_fast_path_is_byte_identical(rig: tuple[Rig, int], name: str,
                                           reply: Payload) -> None:
    r, port = rig
    r.pool.reply = reply
    fast = await exchange(port, GET)
    assert isinstance(r.results[-1], Sent), name
    r.php.fast_path = False
    slow = await exchange(port, GET)
    assert not isinstance(r.results[-1], Sent)
    assert fast == slow


@pytest.mark.parametrize(("name", "request_bytes", "reply"), SLOW_CASES,
                         ids=[c[0] for c in SLOW_CASES])
async def test_unusual_replies_take_aiohttp_path(rig: tuple[Rig, int], name: str,
                                                 request_bytes: bytes, reply: Payload) -> None:
    r, port = rig
    r.pool.reply = reply
    got = await exchange(port, request_bytes)
    assert not isinstance(r.results[-1], Sent), name
    r.php.fast_path = False
    assert await exchange(port, request_bytes) == got


async def test_header_injection_is_refused(rig: tuple[Rig, int]) -> None:
    r, port = rig
    r.pool.reply = Payload(ctx(200, {"X-Evil": ["a\r\nSet-Cookie: pwned=1"]}), b"x", CODEC_JSON)
    got = await exchange(port, GET)
    assert not isinstance(r.results[-1], Sent)
    assert b"pwned" not in got
    assert got.startswith(b"HTTP/1.1 500 ")


async def test_keep_alive_and_pipelining(rig: tuple[Rig, int]) -> None:
    """Several fast replies on one connection, the requests sent in one go."""
    r, port = rig
    r.pool.reply = Payload(ctx(200, {"Content-Type": ["text/plain"]}), b"pong", CODEC_JSON)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(GET * 5)
        for _ in range(5):
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            assert head.startswith(b"HTTP/1.1 200 OK\r\n")
            assert await asyncio.wait_for(reader.readexactly(4), 10) == b"pong"
    finally:
        writer.close()
    assert len(r.results) == 5 and all(isinstance(x, Sent) for x in r.results)


async def test_repeated_context_is_rendered_once(rig: tuple[Rig, int]) -> None:
    r, port = rig
    r.pool.reply = Payload(ctx(200, {"X-N": ["1"]}), b"one", CODEC_JSON)
    first = await exchange(port, GET)
    # same context bytes, other body: the cached head, a fresh length and sniffed type
    r.pool.reply = Payload(ctx(200, {"X-N": ["1"]}), b"<html>two", CODEC_JSON)
    second = await exchange(port, GET)
    assert all(isinstance(x, Sent) for x in r.results)
    assert b"X-N: 1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 3\r\n" in first
    assert b"X-N: 1\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 9\r\n" in second
    assert second.endswith(b"\r\n\r\n<html>two")


def _sniff_reference(body: bytes) -> str:
    """Go's DetectContentType subset, written plainly (the handler's is tuned)."""
    head = body[:512].lstrip(b"\t\n\x0c\r ")
    for prefix in _HTML_PREFIXES:
        if head[:16].lower().startswith(prefix) and len(head) > len(prefix) \
                and head[len(prefix)] in b" >":
            return "text/html; charset=utf-8"
    for magic, kind in ((b"%PDF-", "application/pdf"), (b"\x89PNG\r\n\x1a\n", "image/png"),
                        (b"\xff\xd8\xff", "image/jpeg"), (b"GIF87a", "image/gif"),
                        (b"GIF89a", "image/gif")):
        if head.startswith(magic):
            return kind
    if any(b < 0x20 and b not in b"\t\n\x0c\r\x1b" for b in body[:512]):
        return "application/octet-stream"
    return "text/plain; charset=utf-8"


@given(st.one_of(
    st.binary(max_size=600),
    st.builds(lambda pre, rest: pre + rest,
              st.sampled_from([b"", b" \n", b"<HTML", b"<p>", b"<a", b"<!--", b"%PDF-",
                               b"GIF89a", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"<b "]),
              st.binary(max_size=40))))
def test_sniff_matches_reference(body: bytes) -> None:
    assert sniff(body) == _sniff_reference(body)


async def test_client_that_does_not_read_gets_the_draining_path(rig: tuple[Rig, int]) -> None:
    """Pipelined requests from a client that reads nothing: once the socket buffers are
    full the fast path steps aside (aiohttp waits for the drain), and every reply still
    arrives whole and in order."""
    r, port = rig
    body = bytes(range(256)) * 240  # 60 KiB, just under the fast path's limit
    r.pool.reply = Payload(ctx(200, {"Content-Type": ["application/octet-stream"]}), body,
                           CODEC_JSON)
    count = 300  # ~18 MB: more than loopback socket buffers hold
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    try:
        writer.write(GET * count)
        deadline = asyncio.get_running_loop().time() + 30
        while all(isinstance(x, Sent) for x in r.results):
            assert asyncio.get_running_loop().time() < deadline, "never backed up"
            await asyncio.sleep(0.05)
        for _ in range(count):
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            assert head.startswith(b"HTTP/1.1 200 OK\r\n")
            assert b"\r\nContent-Length: 61440\r\n" in head
            assert await asyncio.wait_for(reader.readexactly(len(body)), 30) == body
    finally:
        writer.close()
    assert len(r.results) == count
    assert any(isinstance(x, Sent) for x in r.results)
