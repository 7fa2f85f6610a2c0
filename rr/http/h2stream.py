"""One HTTP/2 stream as an aiohttp request, so HTTP/2 feeds the same handler chain.

The handler chain (middleware, PHPHandler, Entry) speaks aiohttp's request/response
objects. An HTTP/2 stream becomes a ``BaseRequest`` whose version is 2.0 and whose
payload writer turns aiohttp's header block and body writes into HEADERS and DATA frames
under HTTP/2 flow control. The chain never learns which protocol carried the request, so
one place builds the PHP context (rr/http/context.py) and one maps the reply.
"""

from __future__ import annotations

import asyncio
import zlib
from typing import TYPE_CHECKING, Any, cast

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http import HttpVersion, RawRequestMessage
from aiohttp.streams import EMPTY_PAYLOAD, StreamReader
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

if TYPE_CHECKING:
    from rr.http.h2 import H2Protocol

HTTP2 = HttpVersion(2, 0)
# connection-specific headers are forbidden in HTTP/2 (RFC 9113 §8.2.2)
_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding",
                  "upgrade"})


class _Flow:
    """The stream reader's back-pressure hooks: HTTP/2 windows do the real work."""

    _reading_paused = False
    connected = True  # a reset or lost connection ends the body with EOF instead

    def pause_reading(self) -> None:
        return None

    def resume_reading(self, resume_parser: bool = True) -> None:
        return None


class _ProtocolView:
    """What ``BaseRequest`` reads from its protocol: the transport and a few limits."""

    max_field_size = 65536
    max_headers = 128

    def __init__(self, transport: asyncio.Transport, tls: bool) -> None:
        self.transport = transport
        self.peername = transport.get_extra_info("peername")
        self.sockname = transport.get_extra_info("sockname")
        self.ssl_context = transport.get_extra_info("sslcontext") if tls else None


class Stream:
    """State of one request stream: its body reader, reset flag and window waiters."""

    def __init__(self, conn: H2Protocol, stream_id: int) -> None:
        self.conn = conn
        self.id = stream_id
        self.reset = False
        self.body = StreamReader(cast(Any, _Flow()), 2 ** 16, loop=conn.loop)
        self.received = 0
        self.window = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def feed(self, data: bytes, limit: int) -> None:
        """Body bytes past ``limit`` (plus one byte so the handler sees the excess) are
        dropped: a hostile upload never costs more memory than the limit."""
        if self.received <= limit:
            self.body.feed_data(data[:limit + 1 - self.received])
        self.received += len(data)

    def closed_by_peer(self) -> None:
        self.reset = True
        self.body.feed_eof()
        self.window.set()


class H2Writer(AbstractStreamWriter):
    """aiohttp's payload writer for one HTTP/2 stream."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self.buffer_size = 0
        self.output_size = 0
        self.length = None
        self._compress: Any = None
        self._headers_sent = False

    async def write_headers(self, status_line: str, headers: CIMultiDict[str]) -> None:
        status = status_line.split(" ", 2)[1]
        self.stream.conn.send_headers(self.stream, status, _h2_headers(headers),
                                      end=False)
        self._headers_sent = True

    def send_headers(self) -> None:
        return None

    def send_interim(self, status: int, headers: list[tuple[str, str]]) -> None:
        """A 1xx (103 Early Hints) as its own HEADERS frame before the final one."""
        if not self._headers_sent and not self.stream.reset:
            self.stream.conn.send_headers(self.stream, str(status), _h2_headers(headers),
                                          end=False)

    def enable_compression(self, encoding: str = "deflate", strategy: int | None = None
                           ) -> None:
        wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
        self._compress = zlib.compressobj(wbits=wbits,
                                          strategy=zlib.Z_DEFAULT_STRATEGY
                                          if strategy is None else strategy)

    def enable_chunking(self) -> None:
        return None  # DATA frames carry their own length

    async def write(self, chunk: bytes | bytearray | memoryview) -> None:
        data = bytes(chunk)
        if self._compress is not None:
            data = self._compress.compress(data)
        self.output_size += len(data)
        await self.stream.conn.send_data(self.stream, data, end=False)

    async def write_eof(self, chunk: bytes = b"") -> None:
        data = bytes(chunk)
        if self._compress is not None:
            data = self._compress.compress(data) + self._compress.flush()
            self._compress = None
        self.output_size += len(data)
        await self.stream.conn.send_data(self.stream, data, end=True)

    def abort(self) -> None:
        """A reply that broke off: RST_STREAM, so the client cannot take the truncated
        body for a whole one (HTTP/1 closes the connection for the same reason)."""
        if not self.stream.reset:
            self.stream.conn.reset_stream(self.stream, 2)

    async def drain(self) -> None:
        return None


def _h2_headers(headers: Any) -> list[tuple[str, str]]:
    items = headers.items() if hasattr(headers, "items") else headers
    return [(n.lower(), v) for n, v in items if n.lower() not in _HOP]


def make_request(conn: H2Protocol, stream: Stream, headers: list[tuple[bytes, bytes]],
                 ended: bool) -> web.BaseRequest:
    """The aiohttp request for a HEADERS block; pseudo-headers become method and target,
    ``:authority`` becomes ``Host`` (not passed to PHP, but in ``uri``, as for HTTP/1)."""
    method, path, authority = "GET", "/", ""
    raw: list[tuple[bytes, bytes]] = []
    for name, value in headers:
        if name.startswith(b":"):
            if name == b":method":
                method = value.decode("ascii", "replace")
            elif name == b":path":
                path = value.decode("utf-8", "surrogateescape")
            elif name == b":authority":
                authority = value.decode("ascii", "replace")
            continue
        if name == b"host":
            if not authority:
                authority = value.decode("ascii", "replace")
            continue
        raw.append((name, value))
    raw.insert(0, (b"Host", authority.encode("ascii", "replace")))
    md: CIMultiDict[str] = CIMultiDict(
        (n.decode("latin-1"), v.decode("utf-8", "surrogateescape")) for n, v in raw)
    message = RawRequestMessage(
        method, path, HTTP2, CIMultiDictProxy(md), tuple(raw), False, None, False, False,
        URL.build(path=path.split("?", 1)[0], encoded=True,
                  query_string=path.split("?", 1)[1] if "?" in path else ""))
    payload = EMPTY_PAYLOAD if ended and "content-length" not in md else stream.body
    if ended:
        stream.body.feed_eof()
    transport = conn.transport
    assert transport is not None
    return web.BaseRequest(message, cast(Any, payload),
                           cast(Any, _ProtocolView(transport, conn.tls)),
                           H2Writer(stream), cast(Any, stream.task), conn.loop,
                           client_max_size=2 ** 62)
