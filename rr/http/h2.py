"""The HTTP/2 connection: the ``h2`` state machine on an asyncio protocol.

Each request stream runs the listener's handler chain as its own task (rr/http/h2stream.py
makes it an aiohttp request). What a server facing the internet needs and ``h2`` leaves
to its user lives here: flow-controlled writes, a client reset that ends the stream's
reply (the pool then sends STOP to a streaming worker, as for an HTTP/1 disconnect), a
budget for control frames (SETTINGS/PING/RST_STREAM floods end the connection with
ENHANCE_YOUR_CALM), a write timeout for clients that do not read, and an idle timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import h2.config
import h2.events
import h2.exceptions
import h2.settings
from aiohttp import web
from hyperframe.frame import GoAwayFrame

from rr.http.chain import Handler
from rr.http.h2refuse import RefusingConnection, StreamRefused
from rr.http.h2stream import Stream, make_request
from rr.http.limits import HttpLimits
from rr.ratelog import RateLimitedLog

# hpack logs every decoded header at DEBUG: far too much for rr's debug level
logging.getLogger("hpack").setLevel(logging.WARNING)
logging.getLogger("h2").setLevel(logging.WARNING)
CONTROL_BURST = 500      # control frames a client may send at once ...
CONTROL_RATE = 200.0     # ... and per second after that
MAX_WRITE_BUFFER = 1 << 20
_ENHANCE_YOUR_CALM = 0xB


class H2Options:
    """Per-listener HTTP/2 settings (spec/grpc.md §11)."""

    def __init__(self, max_concurrent_streams: int, max_body: int) -> None:
        self.max_concurrent_streams = max_concurrent_streams
        self.max_body = max_body


class H2Protocol(asyncio.Protocol):
    def __init__(self, handler: Handler, limits: HttpLimits, options: H2Options,
                 rejects: RateLimitedLog, tls: bool,
                 registry: set[H2Protocol]) -> None:
        self.handler = handler
        self.limits = limits
        self.options = options
        self.rejects = rejects
        self.tls = tls
        self.registry = registry
        self.loop = asyncio.get_event_loop()
        self.transport: asyncio.Transport | None = None
        self.conn = RefusingConnection(h2.config.H2Configuration(
            client_side=False, header_encoding=None, validate_inbound_headers=True,
            # what goes out is built here (lower-case names, no connection headers) and
            # HPACK frames each field by length, so re-checking it only costs time
            validate_outbound_headers=False, normalize_outbound_headers=False))
        self.streams: dict[int, Stream] = {}
        self._tokens = float(CONTROL_BURST)
        self._stamp = time.monotonic()
        self._writable = asyncio.Event()
        self._writable.set()
        self._write_timer: asyncio.TimerHandle | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._closing = False
        self._flush_scheduled = False

    # -- connection lifecycle -----------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport, upgrade: Any = None
                        ) -> None:
        self.transport = transport  # type: ignore[assignment]
        if len(self.registry) >= self.limits.max_connections:
            # the HTTP/1.1 cap, counted separately for HTTP/2 connections
            self.rejects.warning("cap", "connection refused: too many HTTP/2 connections",
                                 limit=self.limits.max_connections)
            self._closing = True
            transport.close()
            return
        self.registry.add(self)
        self.conn.local_settings = h2.settings.Settings(client=False, initial_values={
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: self.options.max_concurrent_streams,
            h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: 65536,
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1 << 20,
        })
        if upgrade is not None:
            self.conn.initiate_upgrade_connection(upgrade)
        else:
            self.conn.initiate_connection()
        self.conn.increment_flow_control_window(1 << 24)
        self._flush()
        self._arm_idle()

    def start_upgraded(self, headers: list[tuple[bytes, bytes]]) -> None:
        """Stream 1 of an ``Upgrade: h2c`` connection: the HTTP/1.1 request itself."""
        if self._closing:
            return
        stream = Stream(self, 1)
        self.streams[1] = stream
        self._run(stream, headers, ended=True)

    def connection_lost(self, exc: BaseException | None) -> None:
        self.registry.discard(self)
        self._closing = True
        for timer in (self._write_timer, self._idle_timer):
            if timer is not None:
                timer.cancel()
        for stream in self.streams.values():
            stream.closed_by_peer()
        self._writable.set()

    def pause_writing(self) -> None:
        self._writable.clear()
        if self._write_timer is None:
            self._write_timer = self.loop.call_later(self.limits.write_timeout,
                                                     self._write_timeout)

    def resume_writing(self) -> None:
        self._writable.set()
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    def _write_timeout(self) -> None:
        self._write_timer = None
        self.rejects.warning("write-timeout", "client stopped reading: connection dropped",
                             seconds=self.limits.write_timeout)
        if self.transport is not None:
            self.transport.abort()

    def _arm_idle(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        self._idle_timer = self.loop.call_later(self.limits.idle_timeout, self._idle)

    def _idle(self) -> None:
        self._idle_timer = None
        if self.streams:
            self._arm_idle()
            return
        self.goaway(0)

    def goaway(self, code: int) -> None:
        if self.transport is None or self._closing:
            return
        self._closing = True
        with contextlib.suppress(h2.exceptions.ProtocolError):
            self.conn.close_connection(error_code=code)
            self._flush(now=True)
        self.transport.close()

    async def shutdown(self, grace: float) -> None:
        """GOAWAY, let open streams finish within ``grace``, then close."""
        if self.transport is None:
            return
        # h2's close_connection() would also forbid the replies still owed, so the
        # announcement (last stream id = the newest one we took) is written by hand and
        # the state machine is closed only once those replies are out
        self._flush(now=True)
        notice = GoAwayFrame(0)
        notice.last_stream_id = self.conn.highest_inbound_stream_id
        notice.error_code = 0
        if not self.transport.is_closing():
            self.transport.write(notice.serialize())
        tasks = [s.task for s in self.streams.values() if s.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=grace)
        with contextlib.suppress(h2.exceptions.ProtocolError):
            self.conn.close_connection()
        self._flush(now=True)
        self._closing = True
        self.transport.close()

    # -- reading ------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        self._arm_idle()
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError as e:
            self.rejects.warning("h2-protocol", "HTTP/2 protocol error: connection closed",
                                 error=type(e).__name__)
            code = getattr(e, "error_code", 1)
            self.goaway(int(code) if code is not None else 1)
            return
        for event in events:
            self._event(event)
            if self._closing:
                return
        self._flush()

    def _event(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.RequestReceived):
            stream = Stream(self, event.stream_id)
            self.streams[event.stream_id] = stream
            self._run(stream, event.headers, ended=event.stream_ended is not None)
        elif isinstance(event, h2.events.DataReceived):
            self.conn.acknowledge_received_data(event.flow_controlled_length,
                                                event.stream_id)
            s = self.streams.get(event.stream_id)
            if s is not None:
                s.feed(event.data, self.options.max_body)
                if event.stream_ended is not None:
                    s.body.feed_eof()
        elif isinstance(event, h2.events.StreamEnded):
            s = self.streams.get(event.stream_id)
            if s is not None:
                s.body.feed_eof()
        elif isinstance(event, StreamRefused):
            # a client that keeps opening streams over the limit spends the same budget
            # as one that keeps resetting them (rapid reset)
            self._spend("refused")
        elif isinstance(event, h2.events.StreamReset):
            self._spend("reset")
            s = self.streams.get(event.stream_id)
            if s is not None:
                s.closed_by_peer()
        elif isinstance(event, h2.events.WindowUpdated):
            targets = self.streams.values() if event.stream_id == 0 else \
                [s for s in (self.streams.get(event.stream_id),) if s is not None]
            for s in targets:
                s.window.set()
        elif isinstance(event, (h2.events.RemoteSettingsChanged, h2.events.PingReceived,
                                h2.events.PriorityUpdated)):
            self._spend("control")
            if isinstance(event, h2.events.RemoteSettingsChanged):
                for s in self.streams.values():
                    s.window.set()
        elif isinstance(event, h2.events.ConnectionTerminated):
            self._closing = True
            if self.transport is not None:
                self.transport.close()

    def _spend(self, kind: str) -> None:
        """One token per control frame; an empty bucket means a flood."""
        now = time.monotonic()
        self._tokens = min(CONTROL_BURST, self._tokens + (now - self._stamp) * CONTROL_RATE)
        self._stamp = now
        self._tokens -= 1
        if self._tokens < 0:
            self.rejects.warning("h2-flood", "HTTP/2 frame flood: connection closed",
                                 frame=kind)
            self.goaway(_ENHANCE_YOUR_CALM)

    # -- requests -----------------------------------------------------------------------
    def _run(self, stream: Stream, headers: Any, ended: bool) -> None:
        try:
            request = make_request(self, stream, headers, ended)
        except Exception:  # noqa: BLE001 - a request we cannot build ends its stream only
            logging.getLogger("http").exception("http/2 request refused")
            self.streams.pop(stream.id, None)
            self.reset_stream(stream, 1)
            return
        stream.task = self.loop.create_task(self._serve(stream, request))

    async def _serve(self, stream: Stream, request: web.BaseRequest) -> None:
        try:
            resp = await self.handler(request)
            if not stream.reset:
                if isinstance(resp, web.FileResponse) and not resp.prepared:
                    _no_sendfile(resp)
                if not resp.prepared:
                    await resp.prepare(request)
                await resp.write_eof()
        except (ConnectionError, asyncio.CancelledError):
            pass
        except Exception:  # noqa: BLE001 - one stream's bug never ends the connection
            logging.getLogger("http").exception("http/2 stream failed")
            self.reset_stream(stream, 2)
        finally:
            self.streams.pop(stream.id, None)
            if not stream.reset and not self._closing:
                # the reply is complete; a client still sending its body is told to stop
                st = self.conn._get_stream_by_id(stream.id) \
                    if stream.id in self.conn.streams else None
                if st is not None and not st.closed:
                    self.reset_stream(stream, 0)
            self._flush()

    def reset_stream(self, stream: Stream, code: int) -> None:
        stream.reset = True
        with contextlib.suppress(h2.exceptions.ProtocolError, KeyError):
            self.conn.reset_stream(stream.id, error_code=code)
        self._flush()

    # -- writing ------------------------------------------------------------------------
    def send_headers(self, stream: Stream, status: str, headers: list[tuple[str, str]],
                     end: bool) -> None:
        if stream.reset or self._closing:
            raise ConnectionResetError("stream reset by peer")
        try:
            self.conn.send_headers(stream.id, [(":status", status), *headers],
                                   end_stream=end)
        except h2.exceptions.ProtocolError as e:
            raise ConnectionResetError(str(e)) from None
        self._flush()

    async def send_data(self, stream: Stream, data: bytes, end: bool) -> None:
        view = memoryview(data)
        while True:
            if stream.reset or self._closing:
                raise ConnectionResetError("stream reset by peer")
            if not view and not end:
                return
            try:
                window = min(self.conn.local_flow_control_window(stream.id),
                             self.conn.max_outbound_frame_size)
            except h2.exceptions.ProtocolError as e:
                raise ConnectionResetError(str(e)) from None
            if window <= 0 and view:
                stream.window.clear()
                await stream.window.wait()
                continue
            chunk, view = view[:window], view[window:]
            last = end and not view
            self.conn.send_data(stream.id, bytes(chunk), end_stream=last)
            self._flush()
            if not self._writable.is_set():
                await self._writable.wait()
            if not view:
                return

    def _flush(self, now: bool = False) -> None:
        """Frames go out once per loop turn: the HEADERS and DATA of every stream answered
        in this turn share one write (a syscall per frame was the biggest cost)."""
        if now:
            self._write_out()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._write_out)

    def _write_out(self) -> None:
        self._flush_scheduled = False
        out = self.conn.data_to_send()
        transport = self.transport
        if out and transport is not None and not transport.is_closing():
            transport.write(out)
            if transport.get_write_buffer_size() > MAX_WRITE_BUFFER and not self.streams:
                # control-frame answers piling up for a client that does not read
                self.rejects.warning("h2-flood", "HTTP/2 client does not read: closed")
                transport.abort()


def _no_sendfile(resp: web.FileResponse) -> None:
    """A file goes out as DATA frames: ``sendfile`` would bypass the HTTP/2 framing."""
    async def send(request: web.BaseRequest, fobj: Any, offset: int, count: int) -> Any:
        writer = await web.StreamResponse.prepare(resp, request)
        assert writer is not None
        return await resp._sendfile_fallback(writer, fobj, offset, count)

    resp._sendfile = send  # type: ignore[method-assign]
