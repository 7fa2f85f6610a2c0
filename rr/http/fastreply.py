"""The hot path for the most common reply: one frame, a final status, a small body.

Building an aiohttp ``Response`` and letting it ``prepare`` and ``write_eof`` costs more
Python work per request than everything else rr does for a hello-world page (header
multidict, cookie and compression checks, payload writer state, two awaits). Here the
status line, headers and body go to the transport as one buffer, produced with the same
bytes aiohttp would send (header order, ``Content-Length``, ``Date``, ``Server``), and
the handler returns a ``Sent`` marker that satisfies aiohttp's and our own finishing
steps without doing anything.

Anything unusual is left to the aiohttp path: HTTP/1.0 or a closing connection (the
``Connection`` header logic), HEAD / 204 / 304 (bodiless responses), unknown reason
phrases, headers that steer framing (``Transfer-Encoding``, ``Connection``, ``Trailer``),
CR/LF in a header (aiohttp refuses those), big bodies or a client that does not read
(aiohttp waits for the socket to drain), and requests whose middleware registered hooks
that must see the response.
"""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus
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
    headers: dict[str, str] = {}

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


def send(request: web.BaseRequest, status: int, headers: Iterable[tuple[str, str]],
         body: bytes, content_type: str | None) -> web.StreamResponse | None:
    """Write the whole response, or return None to let aiohttp do it.

    ``headers`` are the worker's, in order (a ``Content-Length`` among them is replaced
    by the real one, as on the aiohttp path); ``content_type`` is added after them when
    the worker sent none and the body is not empty."""
    status_line = _STATUS_LINES.get(status)
    if status_line is None or len(body) > MAX_BODY:
        return None
    transport = request.transport
    if transport is None or transport.is_closing() \
            or transport.get_write_buffer_size() > MAX_BUFFERED:
        return None
    lines = [status_line]
    has_date = has_server = False
    for name, value in headers:
        low = name.lower()
        if low in _FRAMING:
            return None
        if low == "content-length":
            continue
        if low == "date":
            has_date = True
        elif low == "server":
            has_server = True
        lines.append(f"{name}: {value}\r\n")
    if content_type is not None:
        lines.append(f"Content-Type: {content_type}\r\n")
    lines.append(f"Content-Length: {len(body)}\r\n")
    if not has_date:
        lines.append(f"Date: {rfc822_formatted_time()}\r\n")
    lines.append(_TAIL if not has_server else "\r\n")
    head = "".join(lines)
    # one CR and one LF per line: anything more is a header trying to split the response
    if head.count("\n") != len(lines) + (0 if has_server else 1) or \
            head.count("\r") != head.count("\n"):
        return None
    transport.write(head.encode("utf-8") + body)
    return cast(web.StreamResponse, Sent(status, len(body)))
