"""rr's own HTTP/1.1 connection for listeners whose whole chain is the PHP handler.

On aiohttp's path every request costs a ``BaseRequest``, a header multidict, the
handler chain's awaits and the response bookkeeping, even when the reply goes out by the
fast reply path (rr/http/fastreply.py). Here ``httptools`` (llhttp, in C) parses, the
worker payload is built straight from the parsed fields (rr/http/context.py) and a
one-frame reply is written from the cached reply head: no aiohttp object is made.

What this connection serves itself (a *direct* request): HTTP/1.1 keep-alive GET, POST,
PUT, PATCH, DELETE with an origin-form target, one valid Host, no body or a
``Content-Length`` body of at most ``MAX_BODY`` bytes that needs no parsing (no form or
multipart content type, or ``raw_body``), no ``Expect``, ``Upgrade`` or
``Transfer-Encoding``, and head fields of ordinary size. A reply that the fast path
cannot write (streamed, 1xx, big, unusual headers, pool errors) gets an aiohttp request
bound to this connection and goes through ``PHPHandler`` as on aiohttp's path, so it is
written by the same code.

Any other request — and anything the parser refuses — hands the connection over, bytes
and all, to aiohttp's protocol (rr/http/protocol.py) once the direct requests before it
have been answered: from there on that code decides, so HTTP/0.9 refusal, Host and
parser 400s, 413, ``Expect: 100-continue``, chunked bodies, uploads and the h2c upgrade
behave exactly as before. The protections of rr/http/protocol.py hold here too: header
read timeout, idle keep-alive timeout, write timeout and the per-listener connection cap
(the listener counts these connections with its own).

One difference, on purpose: when a valid request and a malformed one arrive in the same
read, aiohttp's parser fails the whole read and the valid request is never answered;
here it is answered, then aiohttp's protocol refuses the malformed one as it would.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import deque
from typing import Any, cast

import httptools
from aiohttp import web
from aiohttp.http import HttpVersion11, RawRequestMessage
from aiohttp.http_writer import StreamWriter
from aiohttp.streams import EMPTY_PAYLOAD
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from rr.goridge.frame import CODEC_JSON
from rr.http.chain import READ_BYTES
from rr.http.context import encode_context, header_map, raw_query_of
from rr.http.entry import Entry, send_out
from rr.http.host import valid_host
from rr.http.php import PHPHandler
from rr.http.protocol import _TIMEOUT, Listener, WriteDeadline, _peer, refused_over_cap
from rr.pool.payload import Payload

MAX_BODY = 64 * 1024      # larger bodies take aiohttp's path (streamed reads, 413)
MAX_FIELD = 8190          # a longer target or header takes aiohttp's path (its limits)
MAX_FIELDS = 100
MAX_HEAD = 256 * 1024     # an unfinished head this large is handed over (aiohttp refuses)
MAX_QUEUED = 16           # pipelined requests held before reading pauses
_METHODS = {m.encode(): m for m in ("GET", "POST", "PUT", "PATCH", "DELETE")}
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")
_STOP = frozenset({b"transfer-encoding", b"expect", b"upgrade"})
#: ``RR_HTTP1_PROTOCOL=aiohttp`` keeps every listener on aiohttp's protocol (comparisons)
ENV_SWITCH = "RR_HTTP1_PROTOCOL"


class _Request:
    """One parsed direct request."""

    __slots__ = ("method", "target", "raw", "host", "ctype", "clen", "sized", "body")

    def __init__(self) -> None:
        self.method = "GET"
        self.target = ""
        self.raw: list[tuple[bytes, bytes]] = []
        self.host = ""
        self.ctype = ""
        self.clen = 0
        self.sized = False   # a Content-Length header was sent
        self.body: list[bytes] = []


class _Seen:
    """What the access log reads of a request answered without an aiohttp request."""

    __slots__ = ("raw_path", "method", "transport", "content_length", "_state", "_raw")

    def __init__(self, r: _Request, transport: asyncio.Transport | None) -> None:
        self.raw_path = r.target
        self.method = r.method
        self.transport = transport
        self.content_length = r.clen if r.sized else None  # as aiohttp's request has it
        self._raw = r.raw
        self._state: dict[str, Any] = {READ_BYTES: r.clen} if r.clen else {}

    def get(self, key: str, default: Any = None) -> Any:
        return self._state.get(key, default)

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        return _headers(self._raw)


def _headers(raw: list[tuple[bytes, bytes]]) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict(
        (n.decode("utf-8", "surrogateescape"), v.decode("utf-8", "surrogateescape"))
        for n, v in raw))


class H1Connection(WriteDeadline):
    """One client connection; see the module docstring."""

    max_field_size = 65536   # read by aiohttp's BaseRequest
    max_headers = 128

    def __init__(self, listener: Listener, entry: Entry, php: PHPHandler) -> None:
        super().__init__(asyncio.get_event_loop())
        self.listener = listener
        self.entry = entry
        self.php = php
        self.limits = listener.limits
        self.rejects = listener.rejects
        self._hp = httptools.HttpRequestParser(self)
        self._cur: _Request | None = None
        self._direct = False
        self._queue: deque[_Request] = deque()
        # one task per connection answers the queued requests in order; it waits on
        # ``_waiter`` when there are none (cheaper than a task per request)
        self._task: asyncio.Task[None] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._busy = False   # a request is being answered
        self._last = 0.0     # loop time of the last reply (idle timeout)
        self._buf = b""      # bytes from the start of the message being parsed
        self._pos = 0        # where that message starts in the buffer being fed
        self._handing = False
        self._over_on_resume = False
        self._held = b""
        self._closed = False
        self._refused = False
        self._registered = False
        self._remote = ""
        # read by aiohttp's BaseRequest
        self.peername: Any = None
        self.sockname: Any = None
        self.ssl_context: Any = None
        self._header_timer: asyncio.TimerHandle | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._write_timer: asyncio.TimerHandle | None = None
        self._shutdown: asyncio.Future[None] | None = None

    # -- connection lifecycle -----------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        tr = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        self.transport = tr
        if refused_over_cap(self.listener.open_connections, self.limits, self.rejects, tr,
                            self._loop):
            self._refused = True
            return
        self._registered = True
        self.listener.connection_made(cast(Any, self), tr)
        self.peername = peer = tr.get_extra_info("peername")
        self.sockname = tr.get_extra_info("sockname")
        self.ssl_context = tr.get_extra_info("sslcontext")
        if isinstance(peer, (tuple, list)) and peer:
            self._remote = str(peer[0])
        self._last = self._loop.time()
        self._idle_timer = self._loop.call_later(self.limits.idle_timeout, self._idle)

    def connection_lost(self, exc: BaseException | None) -> None:
        super().connection_lost(exc)
        self._closed = True
        self._cancel_timers()
        self._unregister()
        self._wake()
        if self._shutdown is not None and not self._shutdown.done():
            self._shutdown.set_result(None)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _unregister(self) -> None:
        if self._registered:
            self._registered = False
            self.listener._connections.pop(cast(Any, self), None)

    def _cancel_timers(self) -> None:
        for timer in (self._header_timer, self._idle_timer, self._write_timer):
            if timer is not None:
                timer.cancel()
        self._header_timer = self._idle_timer = self._write_timer = None

    def _stop_read_timers(self) -> None:
        """Reading is over (hand-over pending): the write timeout stays armed."""
        for timer in (self._header_timer, self._idle_timer):
            if timer is not None:
                timer.cancel()
        self._header_timer = self._idle_timer = None

    def _close(self) -> None:
        self._closed = True
        self._cancel_timers()
        self._wake()
        if self.transport is not None:
            self.transport.close()

    async def shutdown(self, timeout: float | None = 15.0) -> None:
        """Called by the listener on stop: answer what is in flight, then close."""
        self._queue.clear()
        self._handing = False
        if self._busy and not self._closed:
            self._shutdown = self._loop.create_future()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._shutdown), timeout)
        self._close()

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._over_on_resume:
            self._over_on_resume = False
            self._hand_over()

    # -- timers -------------------------------------------------------------------------
    def _idle(self) -> None:
        """One timer for the connection's life, re-armed from the last reply's time
        (not cancelled and re-created per request); a head being read has its own."""
        self._idle_timer = None
        if self._closed or self._handing:
            return
        wait = self.limits.idle_timeout
        if not (self._busy or self._queue or self._cur is not None):
            wait -= self._loop.time() - self._last
            if wait <= 0:
                self._close()
                return
        self._idle_timer = self._loop.call_later(wait, self._idle)

    def _header_timeout(self) -> None:
        self._header_timer = None
        if self.transport is None or self._closed:
            return
        if self._busy or self._queue:  # replies are being written: time the head after
            self._header_timer = self._loop.call_later(self.limits.read_header_timeout,
                                                       self._header_timeout)
            return
        self.rejects.warning("header-timeout", "request header read timed out",
                             remote=_peer(self), seconds=self.limits.read_header_timeout)
        self.transport.write(_TIMEOUT)
        self._close()

    # -- reading ------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self._refused or self._closed:
            return
        if self._handing:
            self._held += data
            return
        buf = self._buf + data if self._buf else data
        self._buf = buf
        self._pos = 0
        try:
            self._hp.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):
            # malformed, HTTP/0.9, an upgrade: aiohttp's protocol answers it as before
            self._handing = True
        if self._handing:
            self._held = buf[self._pos:]
            self._buf = b""
            self._stop_read_timers()
            if not (self._busy or self._queue):
                self._hand_over()
            elif self.transport is not None:
                self.transport.pause_reading()
            return
        if self._cur is None:
            self._buf = b""
            return
        self._buf = buf[self._pos:] if self._pos else buf
        if not self._direct:  # the head is not complete yet
            if len(self._buf) > MAX_HEAD:
                self._handing = True
                self._held, self._buf = self._buf, b""
                if not (self._busy or self._queue):
                    self._hand_over()
                elif self.transport is not None:
                    self.transport.pause_reading()
            elif self._header_timer is None:
                self._header_timer = self._loop.call_later(
                    self.limits.read_header_timeout, self._header_timeout)

    # httptools callbacks: once a hand-over is decided the rest of the data is aiohttp's
    def on_message_begin(self) -> None:
        if not self._handing:
            self._cur = _Request()
            self._direct = False

    def on_url(self, url: bytes) -> None:
        r = self._cur
        if r is not None and not self._handing:
            r.target += url.decode("utf-8", "surrogateescape")

    def on_header(self, name: bytes, value: bytes) -> None:
        r = self._cur
        if r is not None and not self._handing:
            r.raw.append((name, value.strip(b" \t")))

    def on_headers_complete(self) -> None:
        if self._handing:
            return
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        r = self._cur
        if r is None or not self._qualifies(r):
            self._handing = True
            return
        self._direct = True

    def _qualifies(self, r: _Request) -> bool:
        hp = self._hp
        method = _METHODS.get(hp.get_method())
        if method is None or hp.get_http_version() != "1.1" or not hp.should_keep_alive() \
                or hp.should_upgrade() or not r.target.startswith("/") \
                or len(r.target) > MAX_FIELD or len(r.raw) > MAX_FIELDS:
            return False
        r.method = method
        host = None
        clen = None
        for name, value in r.raw:
            if len(name) + len(value) > MAX_FIELD:
                return False
            low = name.lower()
            if low == b"host":
                if host is not None:
                    return False
                host = value.decode("latin-1")
            elif low == b"content-length":
                if clen is not None or not value.isdigit():
                    return False
                clen = int(value)
            elif low == b"content-type":
                if not r.ctype:
                    r.ctype = value.decode("latin-1")
            elif low in _STOP:
                return False
        if host is None or not valid_host(host):
            return False
        if clen is not None and clen > MAX_BODY:
            return False
        if r.ctype and not self.php.cfg.raw_body and any(f in r.ctype for f in _FORMS):
            return False
        r.host = host
        r.clen = clen or 0
        r.sized = clen is not None
        return True

    def on_body(self, body: bytes) -> None:
        r = self._cur
        if r is not None and not self._handing:
            r.body.append(body)

    def on_message_complete(self) -> None:
        r = self._cur
        if r is None or self._handing:
            return
        self._cur = None
        buf = self._buf
        start = self._pos
        while buf.startswith(b"\r\n", start):
            start += 2
        end = buf.find(b"\r\n\r\n", start)
        if end < 0:  # cannot happen with llhttp's strict CRLF rules; never guess
            self._close()
            return
        self._pos = end + 4 + r.clen
        self._queue.append(r)
        if self._waiter is not None:
            self._wake()
        elif self._task is None:
            self._task = self._loop.create_task(self._serve())
        if len(self._queue) >= MAX_QUEUED and self.transport is not None:
            self.transport.pause_reading()

    # -- answering ----------------------------------------------------------------------
    async def _serve(self) -> None:
        queue = self._queue
        try:
            while not self._closed:
                if not queue:
                    if self._handing or self._shutdown is not None:
                        break
                    self._waiter = self._loop.create_future()
                    await self._waiter
                    continue
                r = queue.popleft()
                if len(queue) == MAX_QUEUED - 1 and self.transport is not None:
                    self.transport.resume_reading()
                self._busy = True
                try:
                    keep = await self._one(r)
                except Exception:  # noqa: BLE001 - a bug ends this connection, not rr
                    self.entry.log.exception("http connection failed")
                    keep = False
                self._busy = False
                self._last = self._loop.time()
                if not keep:
                    self._close()
        finally:
            self._task = None
            self._busy = False
            if self._shutdown is not None:
                if not self._shutdown.done():
                    self._shutdown.set_result(None)
            elif self._handing and not self._closed:
                self._hand_over()

    async def _one(self, r: _Request) -> bool:
        """Answer one direct request; False when the connection must close after it."""
        entry = self.entry
        logging_on = entry.access.enabled()
        start = time.time_ns() if logging_on else 0
        t0 = time.perf_counter_ns() if logging_on else 0
        php = self.php
        body = b"".join(r.body) if r.body else b""
        context = encode_context(self._remote, "HTTP/1.1", r.method,
                                 f"{php.scheme}://{r.host}{r.target}", header_map(r.raw),
                                 raw_query_of(r.target), False, None)
        request: web.BaseRequest | None = None
        resp: web.StreamResponse | None = None
        transport = self.transport
        assert transport is not None
        try:
            try:
                request, resp = await php.exchange_direct(
                    transport, Payload(context=context, body=body, flags=CODEC_JSON),
                    lambda: self._aio_request(r, len(body)))
            except Exception:  # noqa: BLE001 - as in Entry: a bug never kills silently
                entry.log.exception("http handler failed")
                resp = web.Response(status=500)
            if request is None and not resp.prepared:
                request = self._aio_request(r, len(body))
            if request is not None and not await send_out(request, resp):
                return False
            return resp.keep_alive is not False and not self._closed
        finally:
            if logging_on:
                seen = request if request is not None else _Seen(r, transport)
                entry.access.emit(cast(web.BaseRequest, seen), resp, start,
                                  time.perf_counter_ns() - t0)

    def _aio_request(self, r: _Request, body_size: int) -> web.BaseRequest:
        """An aiohttp request for a reply that aiohttp's response objects write."""
        target = r.target
        path, _, query = target.partition("?")
        message = RawRequestMessage(
            r.method, target, HttpVersion11, _headers(r.raw), tuple(r.raw), False, None,
            False, False, URL.build(path=path, query_string=query.partition("#")[0],
                                    encoded=True))
        request = web.BaseRequest(
            message, cast(Any, EMPTY_PAYLOAD), cast(Any, self),
            StreamWriter(self, self._loop), cast(Any, asyncio.current_task()), self._loop,
            client_max_size=2 ** 62)
        if body_size:
            request[READ_BYTES] = body_size
        return request

    # -- handing over to aiohttp's protocol ---------------------------------------------
    def _hand_over(self) -> None:
        """From the first request this connection does not serve on, aiohttp's does."""
        transport = self.transport
        if transport is None or self._closed:
            return
        if self._paused:
            # aiohttp's protocol must not inherit a paused writer (it would get a
            # resume_writing it never paused for): hand over once the client caught up
            self._over_on_resume = True
            return
        self._closed = True
        self._cancel_timers()
        self._unregister()
        self._wake()  # the answering task ends
        held, self._held = self._held, b""
        proto = self.listener()
        transport.set_protocol(proto)
        proto.connection_made(transport)
        if held:
            proto.data_received(held)
        transport.resume_reading()


def enabled() -> bool:
    return os.environ.get(ENV_SWITCH, "").lower() != "aiohttp"


def factory(listener: Listener, handler: Any) -> Any:
    """The HTTP/1.1 protocol factory of a listener: this connection when the chain is
    the PHP handler alone (no middleware, no redirect), aiohttp's otherwise."""
    if enabled() and isinstance(handler, Entry) and isinstance(handler.chain, PHPHandler):
        entry, php = handler, handler.chain
        return lambda: H1Connection(listener, entry, php)
    return listener
