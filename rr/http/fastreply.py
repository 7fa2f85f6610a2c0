"""The hot path for the most common reply: one frame, a final status, a small body.

Building an aiohttp ``Response`` and letting it ``prepare`` and ``write_eof`` costs more
Python work per request than everything else rr does for a hello-world page (header
multidict, cookie and compression checks, payload writer state, two awaits). Here the
status line, headers and body go to the transport as one buffer, produced with the same
bytes aiohttp would send (header order, ``Content-Length``, ``Date``, ``Server``), and
the handler returns a ``Sent`` marker that satisfies aiohttp's and our own finishing
steps without doing anything.

Anything unusual is left to the aiohttp path: HTTP/1.0 or a closing connection (the
``Connection`` header logic), HEAD / 204 / 304 / 1xx (bodiless responses), unknown reason
phrases, headers that steer framing (``Transfer-Encoding``, ``Connection``, ``Trailer``)
or a worker's own ``Date``, CR/LF in a header (aiohttp refuses those), big bodies or a
client that does not read (aiohttp waits for the socket to drain), requests whose
middleware registered hooks that must see the response, and requests with uploads (their
temp files are removed before the last byte leaves).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from types import MappingProxyType
from typing import cast

from aiohttp import web
from aiohttp.helpers import rfc822_formatted_time
from aiohttp.http import SERVER_SOFTWARE, HttpVersion11

MAX_BODY = 64 * 1024           # above this, aiohttp's writer (with drain) is worth its cost
MAX_BUFFERED = 64 * 1024       # a client that lets this pile up gets the draining path

_STATUS_LINES = {s.value: f"HTTP/1.1 {s.value} {s.phrase}\r\n" for s in HTTPStatus
                 if s.value >= 200 and s.value not in (204, 304)}
_FRAMING = frozenset({"transfer-encoding", "connection", "trailer"})
_TAIL = f"Server: {SERVER_SOFTWARE}\r\n\r\n"


class Sent:
    """Stands in for a response that was already written in full.

    aiohttp's request loop calls ``prepare``/``write_eof`` and reads ``keep_alive``;
    ``Entry``, the access log and ``http_metrics`` read ``prepared``, ``status`` and
    ``content_length``."""

    __slots__ = ("status", "content_length")
    prepared = True
    keep_alive = True
    # read-only: a middleware that tried to add headers after the fact would be too late
    headers: Mapping[str, str] = MappingProxyType({})

    def __init__(self, status: int, content_length: int) -> None:
        self.status = status
        self.content_length = content_length

    async def prepare(self, request: web.BaseRequest) -> None:
        return None

    async def write_eof(self, data: bytes = b"") -> None:
        return None


def eligible(request: web.BaseRequest) -> bool:
    """Request-side conditions, checked before the reply is decoded."""
    return request.version == HttpVersion11 and request.method != "HEAD" \
        and request.keep_alive and request.method != "CONNECT"


class Head:
    """The reply-dependent part of the header block, rendered once per distinct reply
    context: status line and the worker's headers (``Content-Length`` dropped)."""

    __slots__ = ("status", "text", "has_type", "tail")

    def __init__(self, status: int, text: str, has_type: bool, tail: str) -> None:
        self.status = status
        self.text = text
        self.has_type = has_type
        self.tail = tail   # ``Server`` and the blank line, unless the worker sent ``Server``


def head(status: int, headers: Iterable[tuple[str, str]]) -> Head | None:
    """Render a reply's head, or None when the reply needs aiohttp's path."""
    status_line = _STATUS_LINES.get(status)
    if status_line is None:
        return None
    lines = [status_line]
    has_type = has_server = False
    for name, value in headers:
        low = name.lower()
        if low in _FRAMING or low == "date":
            # a worker's own Date would have to go before our Content-Length: rare
            # enough to leave to aiohttp
            return None
        if low == "content-length":
            continue
        if low == "server":
            has_server = True
        elif low == "content-type":
            has_type = True
        if "\r" in name or "\n" in name or "\r" in value or "\n" in value:
            return None  # aiohttp refuses to split a response; so do we, by not trying
        lines.append(f"{name}: {value}\r\n")
    return Head(status, "".join(lines), has_type, "\r\n" if has_server else _TAIL)


def send(transport: asyncio.Transport | None, rendered: Head, body: bytes,
         content_type: str | None) -> web.StreamResponse | None:
    """Write the whole response, or return None to let aiohttp do it.

    ``content_type`` (sniffed by the caller) is added after the worker's headers when the
    worker sent none and the body is not empty, as on the aiohttp path."""
    if len(body) > MAX_BODY:
        return None
    if transport is None or transport.is_closing() \
            or transport.get_write_buffer_size() > MAX_BUFFERED:
        return None
    if content_type is None:
        text = f"{rendered.text}Content-Length: {len(body)}\r\n" \
               f"Date: {rfc822_formatted_time()}\r\n{rendered.tail}"
    else:
        text = f"{rendered.text}Content-Type: {content_type}\r\n" \
               f"Content-Length: {len(body)}\r\nDate: {rfc822_formatted_time()}\r\n" \
               f"{rendered.tail}"
    transport.write(text.encode("utf-8") + body)
    return cast(web.StreamResponse, Sent(rendered.status, len(body)))


class HeadCache:
    """Rendered heads by the exact bytes of the reply context.

    Most apps answer with a handful of distinct contexts (same status and headers), so
    decoding the JSON and rendering the head is done once per distinct context. Contexts
    that carry per-request values (cookies, ids) just miss; the cache is bounded by
    dropping everything when full, which costs one re-render per live context."""

    MAX_ENTRIES = 512
    MAX_KEY = 2048

    def __init__(self) -> None:
        self._heads: dict[bytes, Head | None] = {}

    def get(self, context: bytes) -> Head | None | bool:
        """The head, None (known to need aiohttp's path) or False (not cached)."""
        return self._heads.get(context, False)

    def put(self, context: bytes, rendered: Head | None) -> None:
        if len(context) > self.MAX_KEY:
            return
        if len(self._heads) >= self.MAX_ENTRIES:
            self._heads.clear()
        self._heads[context] = rendered
