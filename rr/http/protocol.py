"""The HTTP/1.1 connection: aiohttp's request handler with rr's limits and checks.

aiohttp parses and frames; this subclass adds what a server facing the internet needs
and aiohttp leaves out (rr/http/limits.py holds the numbers):

* a header read timeout (slowloris) next to aiohttp's keep-alive timeout (idle clients);
* a write timeout: a client that takes no bytes is dropped with what was buffered for it;
* a connection cap per listener (503 and close above it);
* requests refused before any worker: an invalid Host (rr/http/host.py) and HTTP/0.9
  (aiohttp would answer ``HTTP/0.9 200``);
* one WARN line per refused request, rate-limited, instead of aiohttp's traceback.
"""

from __future__ import annotations

import asyncio
import logging
from http import HTTPStatus
from typing import Any, cast

from aiohttp import web
from aiohttp.base_protocol import BaseProtocol
from aiohttp.http import HttpVersion10, RawRequestMessage
from aiohttp.http_exceptions import BadHttpMessage
from aiohttp.streams import EMPTY_PAYLOAD
from aiohttp.web_protocol import RequestHandler, _ErrInfo  # _ErrInfo: aiohttp's own error slot

from rr.http.host import valid_host
from rr.http.limits import HttpLimits
from rr.ratelog import RateLimitedLog

_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"
         b"Content-Length: 0\r\n\r\n")
REFUSED_LINGER = 2.0
_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


def refused_over_cap(open_connections: int, limits: HttpLimits, rejects: RateLimitedLog,
                     transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> bool:
    """Refuse a new connection with 503 when the listener is at ``max_connections``; both
    HTTP/1.1 connections (this one and rr/http/h1.py) call it first."""
    if open_connections < limits.max_connections:
        return False
    rejects.warning("cap", "connection refused: too many connections",
                    limit=limits.max_connections)
    transport.write(_BUSY)
    # half-close and read (discarding) a little longer: closing at once with the
    # request unread would reset the connection and lose the 503 on the way
    if transport.can_write_eof():
        transport.write_eof()
    loop.call_later(REFUSED_LINGER, transport.close)
    return True


class WriteDeadline(BaseProtocol):
    """A client that takes no bytes for ``write_timeout`` is dropped with what was
    buffered for it; shared by aiohttp's protocol here and rr/http/h1.py."""

    limits: HttpLimits
    rejects: RateLimitedLog
    _write_timer: asyncio.TimerHandle | None

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._write_timer is None:
            self._write_timer = self._loop.call_later(self.limits.write_timeout,
                                                      self._write_timeout)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    def _write_timeout(self) -> None:
        self._write_timer = None
        transport = self.transport
        if transport is None:
            return
        self.rejects.warning("write-timeout", "client stopped reading: connection dropped",
                             remote=_peer(self), seconds=self.limits.write_timeout,
                             buffered=transport.get_write_buffer_size())
        transport.abort()  # close() would wait for the buffer to drain


class Connection(WriteDeadline, RequestHandler):
    def __init__(self, manager: Listener, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self.limits = manager.limits
        self.rejects = manager.rejects
        self._header_timer: asyncio.TimerHandle | None = None
        self._write_timer: asyncio.TimerHandle | None = None
        self._refused = False

    # -- connection cap ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        manager = self._manager
        assert isinstance(manager, Listener)
        if refused_over_cap(manager.open_connections, self.limits, self.rejects,
                            cast(asyncio.Transport, transport), self._loop):
            self._manager = None  # never registered: connection_lost has nothing to undo
            self._refused = True
            return
        super().connection_made(transport)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def _cancel_timers(self) -> None:
        for timer in (self._header_timer, self._write_timer):
            if timer is not None:
                timer.cancel()
        self._header_timer = self._write_timer = None

    # -- reading: header timeout and request checks -------------------------------------
    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        before = len(self._messages)
        super().data_received(data)
        messages = self._messages
        added = len(messages) - before
        if added > 0:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None
            for i in range(len(messages) - added, len(messages)):
                refused = self._refusal(messages[i][0])
                if refused is not None:
                    messages[i] = (refused, EMPTY_PAYLOAD)
        elif self._header_timer is None and self._current_request is None \
                and not messages and not (self._force_close or self._close):
            # the first bytes of a request head: it must be complete in time
            self._header_timer = self._loop.call_later(self.limits.read_header_timeout,
                                                       self._header_timeout)

    def _refusal(self, msg: Any) -> _ErrInfo | None:
        if not isinstance(msg, RawRequestMessage):
            return None
        if msg.version < HttpVersion10:
            return _refused("HTTP/0.9 is not supported")
        host = msg.headers.get("Host")
        if host is not None and not valid_host(host):
            return _refused("invalid Host header")
        return None

    def _header_timeout(self) -> None:
        self._header_timer = None
        if self._messages or self._current_request is not None or self.transport is None:
            return
        self.rejects.warning("header-timeout", "request header read timed out",
                             remote=_peer(self), seconds=self.limits.read_header_timeout)
        self.transport.write(_TIMEOUT)
        self.force_close()

    # -- refused requests ---------------------------------------------------------------
    def handle_error(self, request: web.BaseRequest, status: int = 500,
                     exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        """A 4xx is the client's fault: one rate-limited WARN line, no traceback."""
        if status >= 500:
            return super().handle_error(request, status, exc, message)
        text = (message or "").strip() or HTTPStatus(status).phrase
        self.rejects.warning("bad-request", "bad request rejected",
                             remote=_peer(self), status=status, error=text.splitlines()[0])
        if request.writer.output_size > 0:
            raise ConnectionError("response already started")
        resp = web.Response(status=status, text=f"{status} {HTTPStatus(status).phrase}\n\n"
                                                f"{text}\n")
        resp.force_close()
        return resp


def _refused(message: str) -> _ErrInfo:
    return _ErrInfo(status=400, exc=BadHttpMessage(message), message=message)


def _peer(handler: BaseProtocol) -> str:
    transport = handler.transport
    peer = transport.get_extra_info("peername") if transport is not None else None
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return ""


class Listener(web.Server):
    """aiohttp's connection manager, making ``Connection``s under one set of limits."""

    def __init__(self, handler: Any, limits: HttpLimits, logger: logging.Logger,
                 **kwargs: Any) -> None:
        super().__init__(handler, keepalive_timeout=limits.idle_timeout, **kwargs)
        self.limits = limits
        self.rejects = RateLimitedLog(logger)

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    def __call__(self) -> Connection:
        return Connection(self, loop=self._loop, **self._kwargs)
