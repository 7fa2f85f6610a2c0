"""One HTTP/2 connection of the native gRPC front: an asyncio Protocol that speaks the
part of HTTP/2 that gRPC uses (RFC 9113; gRPC over HTTP/2 protocol doc).

Why not grpcio or h2: both spend far more CPU per call than rr's whole HTTP path, PHP
round trip included. Here a unary call is: frames parsed from one buffer, the request
head decoded once per distinct header block (``hpack_cache``), one task that asks the
pool, and the reply written as one buffer of constant header blocks, the DATA frame
and the trailers. Writes of one event-loop turn are coalesced into one send.

Handled: preface, SETTINGS/ACK, PING, WINDOW_UPDATE and flow control both ways (a reply
larger than the client's windows waits for WINDOW_UPDATE), HEADERS+CONTINUATION,
DATA with the 5-byte message prefix reassembled across frames, RST_STREAM, GOAWAY
(graceful on stop, idle and age), grpc-timeout, gzip/deflate requests, and a
per-connection limit of running calls (``max_concurrent_streams``, queued in FIFO
order as a grpc-go server's clients see it). Anything else a client may send is
answered with the HTTP/2 error the RFC asks for; the server keeps serving.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from hpack import HPACKError

from rr.grpc import h2calls
from rr.grpc import h2wire as w
from rr.grpc import reply as replies
from rr.grpc.h2stream import Head, Stream, decompress, message_bytes, parse_head
from rr.grpc.hpack_cache import (
    RESPONSE_HEAD,
    STATUS,
    TRAILERS_OK,
    BlockDecoder,
    literal_indexed_name,
    metadata,
    trailers,
)
from rr.grpc.routes import RouteKind
from rr.grpc.status import (
    DEADLINE_EXCEEDED,
    INTERNAL,
    RESOURCE_EXHAUSTED,
    UNIMPLEMENTED,
    Failure,
)

if TYPE_CHECKING:
    from rr.grpc.native import NativeServer

MAX_OPEN_STREAMS = 1000  # advertised; a HEADERS flood beyond it is refused
STREAM_WINDOW = 1 << 20  # what each request stream may send before a WINDOW_UPDATE
CONN_WINDOW = 16 << 20
MAX_HEADER_LIST = 64 << 10
MAX_HEADER_BLOCK = 2 * MAX_HEADER_LIST  # compressed bytes buffered across CONTINUATIONs
MAX_IDLE_PINGS = 1000  # PINGs without a single request in between: a ping flood
BIDI_QUEUE = 64  # request messages a bidi handler may lag behind
SERVER_SETTINGS = w.settings({w.MAX_CONCURRENT_STREAMS: MAX_OPEN_STREAMS,
                              w.INITIAL_WINDOW_SIZE: STREAM_WINDOW,
                              w.MAX_HEADER_LIST_SIZE: MAX_HEADER_LIST,
                              w.ENABLE_PUSH: 0}) \
    + w.window_update(0, CONN_WINDOW - w.DEFAULT_WINDOW)
class Connection(asyncio.Protocol):
    def __init__(self, server: NativeServer) -> None:
        self.srv = server
        self.o = server.options
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.preface = False
        self.decoder: BlockDecoder[Head] = BlockDecoder(MAX_HEADER_LIST)
        self.streams: dict[int, Stream] = {}
        self.last_sid = 0
        self.cont: tuple[int, int, bytearray] | None = None  # (sid, flags, block so far)
        self.send_window = w.DEFAULT_WINDOW
        self.peer_window = w.DEFAULT_WINDOW
        self.peer_frame = w.DEFAULT_FRAME
        self.recv_unacked = 0
        self.blocked: list[Stream] = []
        self.out: list[bytes] = []
        self.active = 0
        self.waiting: deque[Stream] = deque()
        self.goaway_sent = False
        self.closing = False
        self.peer = ""
        self.tls = False
        self.idle_since = self.loop.time()
        self.last_read = self.idle_since
        self.pings = 0
        self.ping_due: asyncio.TimerHandle | None = None
        # one handle per job (idle, age, keepalive, ...): a periodic job replaces its own
        self.timers: dict[str, asyncio.TimerHandle] = {}

    # -- connection lifecycle --------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        name = transport.get_extra_info("peername")
        if isinstance(name, tuple) and len(name) >= 2:
            host = name[0]
            self.peer = f"[{host}]:{name[1]}" if ":" in host else f"{host}:{name[1]}"
        else:
            self.peer = "@"  # a unix-socket peer, as grpc-go names it
        self.tls = transport.get_extra_info("ssl_object") is not None
        self.srv.connections.add(self)
        self._write(SERVER_SETTINGS)
        o = self.o
        if o.max_connection_idle > 0:
            self._every(max(0.05, o.max_connection_idle / 4), self._check_idle)
        if o.max_connection_age > 0:
            self.timers["age"] = self.loop.call_later(o.max_connection_age, self._aged)
        self._every(o.ping_time, self._keepalive)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        for t in self.timers.values():
            t.cancel()
        if self.ping_due is not None:
            self.ping_due.cancel()
        for st in list(self.streams.values()):
            self._gone(st)
        self.streams.clear()
        self.srv.connection_closed(self)

    def _every(self, period: float, fn: Callable[[], None]) -> None:
        name = fn.__name__

        def tick() -> None:
            if self.closing:
                return
            fn()
            self.timers[name] = self.loop.call_later(period, tick)

        self.timers[name] = self.loop.call_later(period, tick)

    def _write(self, data: bytes) -> None:
        if not self.out:
            self.loop.call_soon(self._flush)
        self.out.append(data)

    def _flush(self) -> None:
        if self.out and self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(self.out))
        self.out.clear()

    def _close(self) -> None:
        self.closing = True
        self._flush()
        if self.transport is not None:
            self.transport.close()

    def _conn_error(self, code: int, debug: str) -> None:
        """A connection error (RFC 9113 §5.4.1): GOAWAY with the code, then close."""
        if self.closing:
            return
        self.srv.log.debug("grpc connection error", extra={"fields": {
            "peer": self.peer, "code": code, "error": debug}})
        self._write(w.goaway(self.last_sid, code, debug.encode()[:256]))
        self._close()

    def goaway(self) -> None:
        """Graceful: no new streams, the open ones finish, then the connection closes."""
        if not self.goaway_sent and not self.closing:
            self.goaway_sent = True
            self._write(w.goaway(self.last_sid, w.NO_ERROR))
        if not self.streams:
            self._close()

    def abort(self) -> None:
        """Grace is over: what still runs is cancelled and the connection closed."""
        for st in list(self.streams.values()):
            if not st.local_closed:
                self._write(w.rst_stream(st.sid, w.CANCEL))
        self._close()

    def _check_idle(self) -> None:
        if not self.streams and self.loop.time() - self.idle_since >= self.o.max_connection_idle:
            self.goaway()

    def _aged(self) -> None:
        self.goaway()
        grace = self.o.max_connection_age_grace
        if grace > 0 and not self.closing:
            self.timers["age_grace"] = self.loop.call_later(grace, self.abort)

    def _keepalive(self) -> None:
        if self.ping_due is not None or self.loop.time() - self.last_read < self.o.ping_time:
            return
        self._write(w.frame(w.PING, 0, 0, b"rr-keep!"))
        self.ping_due = self.loop.call_later(self.o.timeout, self._close)

    # -- reading ---------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        buf = self.buf
        buf += data
        self.last_read = self.loop.time()
        if not self.preface:
            n = min(len(buf), 24)
            if buf[:n] != w.PREFACE[:n]:
                self._conn_error(w.PROTOCOL_ERROR, "invalid connection preface")
                return
            if n < 24:
                return
            del buf[:24]
            self.preface = True
        pos, size = 0, len(buf)
        handlers = self._handlers
        while size - pos >= 9:
            length = (buf[pos] << 16) | (buf[pos + 1] << 8) | buf[pos + 2]
            if length > w.DEFAULT_FRAME:
                self._conn_error(w.FRAME_SIZE_ERROR, "frame larger than SETTINGS_MAX_FRAME_SIZE")
                return
            end = pos + 9 + length
            if end > size:
                break
            ftype, flags = buf[pos + 3], buf[pos + 4]
            sid = ((buf[pos + 5] & 0x7F) << 24) | (buf[pos + 6] << 16) | (buf[pos + 7] << 8) \
                | buf[pos + 8]
            payload = bytes(buf[pos + 9:end])
            pos = end
            if self.cont is not None and (ftype != w.CONTINUATION or sid != self.cont[0]):
                self._conn_error(w.PROTOCOL_ERROR, "expected CONTINUATION")
                return
            if ftype < len(handlers):
                try:
                    handlers[ftype](self, flags, sid, payload)
                except Exception as e:  # a bug must cost this connection, not the server
                    self.srv.log.exception("grpc connection failed",
                                           extra={"fields": {"peer": self.peer}})
                    self._conn_error(w.INTERNAL_ERROR, f"{type(e).__name__}: {e}")
                if self.closing:
                    return
        del buf[:pos]

    def _on_data(self, flags: int, sid: int, payload: bytes) -> None:
        if sid == 0:
            self._conn_error(w.PROTOCOL_ERROR, "DATA on stream 0")
            return
        size = len(payload)
        self.recv_unacked += size
        if self.recv_unacked >= CONN_WINDOW // 2:
            self._write(w.window_update(0, self.recv_unacked))
            self.recv_unacked = 0
        st = self.streams.get(sid)
        if st is None:
            if sid > self.last_sid:
                self._conn_error(w.PROTOCOL_ERROR, "DATA on an idle stream")
            return  # a stream rr already finished or reset
        if st.remote_closed:
            self._finish(st, w.STREAM_CLOSED)
            return
        body = w.strip_padding(flags, payload)
        if body is None:
            self._conn_error(w.PROTOCOL_ERROR, "bad padding")
            return
        end = flags & w.END_STREAM
        if not st.local_closed:
            if body:
                self._feed(st, body)
            if not end and not st.local_closed:
                st.recv_unacked += size
                if st.recv_unacked >= STREAM_WINDOW // 2:
                    self._write(w.window_update(sid, st.recv_unacked))
                    st.recv_unacked = 0
        if end:
            self._end_of_request(st)

    def _on_headers(self, flags: int, sid: int, payload: bytes) -> None:
        if sid == 0 or not sid & 1:
            self._conn_error(w.PROTOCOL_ERROR, "HEADERS on an invalid stream id")
            return
        block = w.strip_padding(flags, payload)
        if block is None:
            self._conn_error(w.PROTOCOL_ERROR, "bad padding")
            return
        if flags & w.PRIORITY_FLAG:
            block = block[5:]
        if flags & w.END_HEADERS:
            self._headers(sid, flags, block)
        else:
            self.cont = (sid, flags, bytearray(block))

    def _on_continuation(self, flags: int, sid: int, payload: bytes) -> None:
        if self.cont is None:
            self._conn_error(w.PROTOCOL_ERROR, "unexpected CONTINUATION")
            return
        _, first, block = self.cont
        block += payload
        if len(block) > MAX_HEADER_BLOCK:
            self._conn_error(w.ENHANCE_YOUR_CALM, "header block too large")
            return
        if flags & w.END_HEADERS:
            self.cont = None
            self._headers(sid, first, bytes(block))

    def _headers(self, sid: int, flags: int, block: bytes) -> None:
        try:
            head = self.decoder.decode(block, self._parse_head)
        except HPACKError as e:
            self._conn_error(w.COMPRESSION_ERROR, f"hpack: {e}")
            return
        st = self.streams.get(sid)
        if st is not None:  # trailers of a request: only its END_STREAM matters
            if not flags & w.END_STREAM:
                self._conn_error(w.PROTOCOL_ERROR, "second HEADERS without END_STREAM")
            elif not st.remote_closed:
                self._end_of_request(st)
            return
        if sid <= self.last_sid:
            self._conn_error(w.STREAM_CLOSED, "HEADERS on a closed stream")
            return
        self.last_sid = sid
        if self.goaway_sent:
            self._write(w.rst_stream(sid, w.REFUSED_STREAM))
            return
        if len(self.streams) >= MAX_OPEN_STREAMS:
            self._write(w.rst_stream(sid, w.REFUSED_STREAM))
            return
        self.pings = 0
        st = Stream(sid, head, self.peer_window, time.monotonic())
        self.streams[sid] = st
        if flags & w.END_STREAM:
            st.remote_closed = True
        if head.error:
            self._reject(st, head)
            return
        route = head.route
        if route.kind is RouteKind.REFUSE:
            self.answer(st, UNIMPLEMENTED, route.text)
            return
        if head.timeout is not None:
            st.deadline = self.loop.time() + head.timeout
            st.timer = self.loop.call_later(head.timeout, self._expire, st)
        if route.kind is RouteKind.BIDI:
            st.queue = asyncio.Queue(BIDI_QUEUE)
            st.task = self.loop.create_task(h2calls.bidi(self, st))
        if st.remote_closed:
            self._end_of_request(st)

    def _parse_head(self, fields: list[tuple[bytes, bytes]]) -> Head:
        return parse_head(fields, self.srv.routes, self.peer, self.tls)

    def _on_priority(self, flags: int, sid: int, payload: bytes) -> None:
        if sid == 0 or len(payload) != 5:
            self._conn_error(w.PROTOCOL_ERROR, "bad PRIORITY")

    def _on_rst(self, flags: int, sid: int, payload: bytes) -> None:
        if sid == 0 or len(payload) != 4:
            self._conn_error(w.PROTOCOL_ERROR, "bad RST_STREAM")
            return
        st = self.streams.pop(sid, None)
        if st is not None:
            st.local_closed = True  # nothing more may be sent on it
            self._gone(st)
            self.stream_done()
        elif sid > self.last_sid:
            self._conn_error(w.PROTOCOL_ERROR, "RST_STREAM on an idle stream")

    def _on_settings(self, flags: int, sid: int, payload: bytes) -> None:
        if sid != 0 or len(payload) % 6:
            self._conn_error(w.PROTOCOL_ERROR if sid else w.FRAME_SIZE_ERROR, "bad SETTINGS")
            return
        if flags & w.ACK:
            return
        for key, value in w.parse_settings(payload):
            if key == w.INITIAL_WINDOW_SIZE:
                if value > w.MAX_WINDOW:
                    self._conn_error(w.FLOW_CONTROL_ERROR, "initial window too large")
                    return
                delta = value - self.peer_window
                self.peer_window = value
                for st in self.streams.values():
                    st.send_window += delta
            elif key == w.MAX_FRAME_SIZE:
                if not w.DEFAULT_FRAME <= value <= 16777215:
                    self._conn_error(w.PROTOCOL_ERROR, "bad SETTINGS_MAX_FRAME_SIZE")
                    return
                self.peer_frame = value
        self._write(w.frame(w.SETTINGS, w.ACK, 0))
        self._unblock()

    def _on_push(self, flags: int, sid: int, payload: bytes) -> None:
        self._conn_error(w.PROTOCOL_ERROR, "PUSH_PROMISE from a client")

    def _on_ping(self, flags: int, sid: int, payload: bytes) -> None:
        if sid != 0 or len(payload) != 8:
            self._conn_error(w.PROTOCOL_ERROR if sid else w.FRAME_SIZE_ERROR, "bad PING")
            return
        if flags & w.ACK:
            if self.ping_due is not None:
                self.ping_due.cancel()
                self.ping_due = None
            return
        self.pings += 1
        if self.pings > MAX_IDLE_PINGS:
            self._conn_error(w.ENHANCE_YOUR_CALM, "too_many_pings")
            return
        self._write(w.frame(w.PING, w.ACK, 0, payload))

    def _on_goaway(self, flags: int, sid: int, payload: bytes) -> None:
        self.goaway_sent = True  # the client opens no more streams; finish the open ones
        if not self.streams:
            self._close()

    def _on_window_update(self, flags: int, sid: int, payload: bytes) -> None:
        if len(payload) != 4:
            self._conn_error(w.FRAME_SIZE_ERROR, "bad WINDOW_UPDATE")
            return
        inc = w.u32(payload) & 0x7FFFFFFF
        if sid == 0:
            if inc == 0:
                self._conn_error(w.PROTOCOL_ERROR, "WINDOW_UPDATE of 0")
                return
            self.send_window += inc
            if self.send_window > w.MAX_WINDOW:
                self._conn_error(w.FLOW_CONTROL_ERROR, "connection window overflow")
                return
        else:
            st = self.streams.get(sid)
            if st is None:
                return
            if inc == 0:
                self._finish(st, w.PROTOCOL_ERROR)
                return
            st.send_window += inc
            if st.send_window > w.MAX_WINDOW:
                self._finish(st, w.FLOW_CONTROL_ERROR)
                return
        self._unblock()

    _handlers = (_on_data, _on_headers, _on_priority, _on_rst, _on_settings, _on_push,
                 _on_ping, _on_goaway, _on_window_update, _on_continuation)

    # -- request messages ------------------------------------------------------------
    def _feed(self, st: Stream, data: bytes) -> None:
        """Request bytes of a stream → messages (the 5-byte prefix, across frames)."""
        limit = self.o.max_recv_msg_size
        if not st.buf and len(data) >= 5:
            length = int.from_bytes(data[1:5], "big")
            if len(data) == 5 + length and length <= limit:
                self._message(st, data[0], data[5:])  # the common case: one frame
                return
        buf = st.buf
        buf += data
        while len(buf) >= 5:
            length = int.from_bytes(buf[1:5], "big")
            if length > limit:
                self.answer(st, RESOURCE_EXHAUSTED, f"grpc: received message larger than "
                             f"max ({length} vs. {limit})")
                return
            if len(buf) < 5 + length:
                return
            flag, msg = buf[0], bytes(buf[5:5 + length])
            del buf[:5 + length]
            self._message(st, flag, msg)
            if st.local_closed:
                return

    def _message(self, st: Stream, compressed: int, msg: bytes) -> None:
        if compressed:
            try:
                msg = decompress(st.head.encoding, msg, self.o.max_recv_msg_size)
            except Failure as f:
                self.answer(st, f.code, f.message)
                return
        if st.queue is not None:
            if st.queue.full():
                self.answer(st, RESOURCE_EXHAUSTED, "too many request messages queued")
                return
            st.queue.put_nowait(msg)
        elif st.msg is not None:
            self.answer(st, INTERNAL, "grpc: a unary call sent more than one request message")
        else:
            st.msg = msg

    def _end_of_request(self, st: Stream) -> None:
        st.remote_closed = True
        if st.local_closed:
            return
        if st.buf:
            self.answer(st, INTERNAL, "grpc: the request ended inside a message")
            return
        kind = st.route.kind
        if kind is RouteKind.BIDI:
            assert st.queue is not None
            if st.queue.full():
                self.answer(st, RESOURCE_EXHAUSTED, "too many request messages queued")
            else:
                st.queue.put_nowait(None)
            return
        if st.msg is None:
            self.answer(st, INTERNAL, "grpc: a unary call sent no request message")
            return
        if kind is RouteKind.PROXY:
            self._admit(st)
        elif kind is RouteKind.LOCAL:
            assert st.route.local is not None
            self.srv.observe(st.route.path, "OK", 0.0)
            self.send(st, RESPONSE_HEAD, message_bytes(st.route.local(st.msg)), TRAILERS_OK)
        elif kind is RouteKind.SERVER_STREAM:
            st.task = self.loop.create_task(h2calls.server_stream(self, st))

    # -- calls -----------------------------------------------------------------------
    def _admit(self, st: Stream) -> None:
        self.srv.call_started()
        st.observed = True
        if self.active < self.o.max_concurrent_streams:
            self.active += 1
            st.task = self.loop.create_task(h2calls.unary(self, st))
        else:
            st.queued = True
            self.waiting.append(st)

    def release(self) -> None:
        self.active -= 1
        waiting = self.waiting
        while waiting:
            st = waiting.popleft()
            if st.gone:
                continue
            st.queued = False
            self.active += 1
            st.task = self.loop.create_task(h2calls.unary(self, st))
            return

    def _expire(self, st: Stream) -> None:
        """The call's grpc-timeout passed: DEADLINE_EXCEEDED now, the work is cancelled."""
        st.timer = None
        if st.local_closed:
            return
        st.expired = True
        self.answer(st, DEADLINE_EXCEEDED, "context deadline exceeded")

    def _gone(self, st: Stream) -> None:
        """The stream ended before its call did (reset, deadline, connection lost)."""
        if st.gone:
            return
        st.gone = True
        if st.timer is not None:
            st.timer.cancel()
            st.timer = None
        if st.drained is not None and not st.drained.done():
            st.drained.cancel()
        if st.task is not None and not st.task.done():
            st.task.cancel()
        elif st.queued and st.observed:
            st.observed = False
            self.srv.call_finished(st.route.path, h2calls.cancel_status(self, st),
                                   time.monotonic() - st.start)

    def stream_done(self, st: Stream | None = None) -> None:
        if st is not None and self.streams.get(st.sid) is st and st.local_closed:
            del self.streams[st.sid]
        if not self.streams:
            self.idle_since = self.loop.time()
            if self.goaway_sent:
                self._close()

    # -- writing ---------------------------------------------------------------------
    def send(self, st: Stream, head: bytes | None, data: bytes, tail: bytes | None
              ) -> asyncio.Future[None] | None:
        """Headers, message bytes and trailers, as far as the windows allow; a future
        when part of it must wait for WINDOW_UPDATE."""
        if st.local_closed:
            return None
        if head is not None:
            st.headers_sent = True
            self._write(w.headers(st.sid, head, False, self.peer_frame))
        sent = self._data(st, data, 0)
        if sent < len(data):
            st.pending = data[sent:]
            st.pending_tail = tail
            st.drained = self.loop.create_future()
            self.blocked.append(st)
            return st.drained
        if tail is not None:
            self._tail(st, tail)
        return None

    def _data(self, st: Stream, data: bytes, pos: int) -> int:
        n = len(data)
        sid = st.sid
        while pos < n:
            allow = min(self.send_window, st.send_window, self.peer_frame, n - pos)
            if allow <= 0:
                break
            self._write(w.frame(w.DATA, 0, sid, data[pos:pos + allow]))
            self.send_window -= allow
            st.send_window -= allow
            pos += allow
        return pos

    def _tail(self, st: Stream, tail: bytes) -> None:
        self._write(w.headers(st.sid, tail, True, self.peer_frame))
        st.local_closed = True
        if st.timer is not None:
            st.timer.cancel()
            st.timer = None
        if not st.remote_closed:
            # the reply is complete while the client still sends: stop its upload
            self._write(w.rst_stream(st.sid, w.NO_ERROR))
        self.stream_done(st)

    def _unblock(self) -> None:
        if not self.blocked:
            return
        still: list[Stream] = []
        for st in self.blocked:
            if st.local_closed or st.gone:
                continue
            sent = self._data(st, st.pending, 0)
            if sent < len(st.pending):
                st.pending = st.pending[sent:]
                still.append(st)
                continue
            st.pending = b""
            if st.pending_tail is not None:
                self._tail(st, st.pending_tail)
            if st.drained is not None and not st.drained.done():
                st.drained.set_result(None)
        self.blocked = still

    def answer(self, st: Stream, code: int, message: str, details: bytes = b"",
                carried: replies.Reply | None = None) -> None:
        """End the stream with a status (trailers-only when no headers went out yet)."""
        if st.local_closed:
            return
        extra = carried.trailers if carried is not None else []
        block = trailers(code, message, details, extra)
        if not st.headers_sent:
            st.headers_sent = True
            if carried is not None and carried.headers:
                # headers PHP set beside the error go first, as a separate HEADERS frame
                self._write(w.headers(st.sid, RESPONSE_HEAD + metadata(carried.headers), False,
                                      self.peer_frame))
            else:
                block = RESPONSE_HEAD + block  # trailers-only
        if st in self.blocked:
            self.blocked.remove(st)
        self._tail(st, block)
        self._gone_if_running(st)

    def _gone_if_running(self, st: Stream) -> None:
        task = st.task
        running = task is not None and not task.done() and task is not asyncio.current_task()
        if running or st.queued:
            self._gone(st)

    def _reject(self, st: Stream, head: Head) -> None:
        """Not a gRPC request: an HTTP error status with the gRPC status beside it."""
        block = literal_indexed_name(STATUS, head.http_status) + trailers(INTERNAL, head.error)
        self._tail(st, block)

    def _finish(self, st: Stream, code: int) -> None:
        """A stream error: RST_STREAM with the code, the call (if any) cancelled."""
        self.streams.pop(st.sid, None)
        if not st.local_closed:
            st.local_closed = True
            self._write(w.rst_stream(st.sid, code))
        self._gone(st)
        self.stream_done()
