"""One client connection: read until a chunk ends with the delimiter, hand the event to a
worker, apply its reply (spec/tcp.md §2, §4, §5).

Back-pressure: reading is paused from the moment a message is complete until the
worker's reply has been applied (and written out, when the client reads slowly), so a
client cannot make rr buffer more than one message (at most ``max_message_size``) plus
what the kernel holds. Every event is a fenced pool exchange (rr/pool/fence.py): that
settles spec §9 — a worker that skips the CLOSE reply is free again at once, and a
worker that answers twice cannot shift a frame onto another connection's event.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import uuid
from typing import TYPE_CHECKING, cast

from rr.pool.errors import PoolError
from rr.pool.payload import Payload

if TYPE_CHECKING:
    from rr.tcp.plugin import Listener

CONNECTED = b"CONNECTED"
DATA = b"DATA"
CLOSE = b"CLOSE"
TOO_SMALL = "too small payload was received from the connection. less than delimiter"
TOO_LARGE = "message without delimiter exceeds tcp.max_message_size, connection closed"


class Next(enum.Enum):
    READ = 1  # keep the connection, read the next message
    CLOSED = 2  # the socket was closed: a CLOSE event follows
    FAILED = 3  # the worker failed: socket closed, no CLOSE event (spec §5)


def peer_address(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        host, port = str(peer[0]), int(peer[1])
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return str(peer or "")


class Connection(asyncio.Protocol):
    def __init__(self, listener: Listener) -> None:
        self.listener = listener
        self.log: logging.Logger = listener.log
        self.delimiter = listener.cfg.delimiter
        self.uuid = str(uuid.uuid4())
        self.transport: asyncio.Transport | None = None
        self.remote_addr = ""
        self._prefix = b""
        self._buf = bytearray()
        self._last_end = 0  # just past the last delimiter in _buf (0: none)
        self._message: bytes | None = None
        self._problem: str | None = None  # a read-side reason to end the connection
        self._eof = False
        self._lost = False
        self._waiter: asyncio.Future[None] | None = None
        self._drained: asyncio.Future[None] | None = None
        self.task: asyncio.Task[None] | None = None

    # -- transport callbacks -------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it
        self.transport = transport = cast(asyncio.Transport, transport)
        transport.pause_reading()  # nothing is read before the CONNECTED reply is applied
        self.remote_addr = peer_address(transport)
        self._prefix = (f'{{"remote_addr":{json.dumps(self.remote_addr)},'
                        f'"server":{json.dumps(self.listener.cfg.name)},'
                        f'"uuid":"{self.uuid}","event":"').encode()
        self.listener.connections[self.uuid] = self
        self.task = asyncio.get_running_loop().create_task(self.run())

    def data_received(self, data: bytes) -> None:
        if self._problem is not None or self._message is not None:
            return
        dlen = len(self.delimiter)
        if len(data) < dlen:
            self._problem = TOO_SMALL
            self._wake()
            return
        buf = self._buf
        start = max(0, len(buf) - dlen + 1)
        buf += data
        if data.endswith(self.delimiter):
            self._deliver(len(buf))
            return
        found = buf.rfind(self.delimiter, start)
        if found >= 0:
            self._last_end = found + dlen
        if len(buf) >= self.listener.read_buf_size and self._last_end:
            # A client streaming faster than PHP answers rarely has a read end exactly on
            # the delimiter; RoadRunner then accumulates without limit. rr hands over
            # everything up to the last delimiter once a read buffer's worth is waiting
            # (the rest starts the next message), so reading pauses and memory stays
            # bounded. Request/response clients never reach this and see the reference
            # behaviour.
            self._deliver(self._last_end)
        elif len(buf) > self.listener.max_message_size:
            self._problem = TOO_LARGE
            self._wake()

    def _deliver(self, end: int) -> None:
        assert self.transport is not None
        self.transport.pause_reading()
        buf = self._buf
        self._message = bytes(buf) if end == len(buf) else bytes(buf[:end])
        del buf[:end]
        self._last_end = 0
        self._wake()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake()
        return True  # keep the socket: a reply to pending data may still be written

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._wake()
        self.resume_writing()

    def pause_writing(self) -> None:
        if self._drained is None:
            self._drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        d, self._drained = self._drained, None
        if d is not None and not d.done():
            d.set_result(None)

    def _wake(self) -> None:
        w, self._waiter = self._waiter, None
        if w is not None and not w.done():
            w.set_result(None)

    # -- the event loop of one connection ---------------------------------------------------
    async def run(self) -> None:
        close_event = True
        try:
            step = await self._event(CONNECTED, b"")
            while step is Next.READ:
                step = await self._read_step()
            close_event = step is Next.CLOSED
        except asyncio.CancelledError:
            close_event = False  # the shutdown deadline passed: no more worker calls
            raise
        finally:
            self.listener.connections.pop(self.uuid, None)
            self.close()
            if close_event:
                await self._close_event()

    async def _read_step(self) -> Next:
        """Wait for the next complete message (or the end of the stream) and serve it."""
        assert self.transport is not None
        self.transport.resume_reading()
        while True:
            if self._message is not None:
                message, self._message = self._message, None
                return await self._event(DATA, message)
            if self._problem is not None:
                self.log.error(self._problem, extra={"fields": self._fields()})
                return Next.CLOSED
            if self._lost:
                self.log.warning("read error, connection closed", extra={"fields": self._fields()})
                return Next.CLOSED
            if self._eof:
                # flush unterminated data as one last DATA event, then exactly one CLOSE
                # (the reference sends CLOSE first and a second CLOSE later, spec §2.1)
                pending = bytes(self._buf)
                self._buf.clear()
                if pending:
                    step = await self._event(DATA, pending)
                    if step is Next.FAILED:
                        return step
                return Next.CLOSED
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter

    async def _event(self, event: bytes, body: bytes) -> Next:
        payload = Payload(self._prefix + event + b'"}', body)
        try:
            reply = await self.listener.pool.exec_fenced(payload)
        except PoolError as e:
            self.log.error("execute error", extra={"fields": {**self._fields(), "error": str(e)}})
            return Next.FAILED
        if reply is None:
            self.log.error("execute error", extra={"fields": {
                **self._fields(), "error": f"the worker sent no reply to the {event.decode()} "
                                           "event"}})
            return Next.FAILED
        return await self._apply(reply)

    async def _apply(self, reply: Payload) -> Next:
        command = reply.context
        if command == b"CONTINUE":
            return Next.READ
        if command in (b"WRITE", b"WRITECLOSE"):
            if not await self._write(reply.body):
                self.log.error("write response error", extra={"fields": self._fields()})
                return Next.CLOSED
            return Next.READ if command == b"WRITE" else Next.CLOSED
        # CLOSE, and anything that is not a command word: close the socket
        return Next.CLOSED

    async def _write(self, data: bytes) -> bool:
        t = self.transport
        if t is None or t.is_closing() or self._lost:
            return False
        if data:
            t.write(data)
        drained = self._drained
        if drained is not None:
            await drained  # the client reads slowly: read nothing more until it catches up
        return not self._lost

    async def _close_event(self) -> None:
        """CLOSE goes to a worker; its reply (if any) is discarded, failures are ignored."""
        try:
            await self.listener.pool.exec_fenced(Payload(self._prefix + CLOSE + b'"}', b""))
        except PoolError as e:
            self.log.debug("close event was not delivered",
                           extra={"fields": {**self._fields(), "error": str(e)}})

    # -- control ---------------------------------------------------------------------------
    def close(self) -> None:
        """Close the socket (pending writes are flushed first); the read loop then ends."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def _fields(self) -> dict[str, str]:
        return {"server": self.listener.cfg.name, "uuid": self.uuid,
                "remote_addr": self.remote_addr}
