"""The goridge RPC listener (spec/goridge.md §7).

One connection carries request frames with exactly two options (sequence number, method
name length). Each request gets one reply frame echoing both; replies may leave out of
order because requests of one connection run concurrently (a slow `resetter.Reset` must
not hold up a `kv.Get` of the same client), matching is by sequence number.
A frame the server cannot trust (bad CRC, wrong option count, truncated) closes the
connection without a reply: the byte stream is desynchronised from then on.

Limits (rr extensions, ``RPCLimits``): a frame whose length claim exceeds
``rpc.max_frame_size`` gets an error reply and the connection is closed before any of its
payload is read; a frame begun must be complete within ``rpc.read_timeout``; with
``rpc.idle_timeout`` a connection that sends no frame for that long is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import socket
from dataclasses import dataclass

from rr.config import Section
from rr.errors import ConfigError, RRError
from rr.goridge.frame import (
    CODEC_GOB,
    CODEC_JSON,
    HEADER_SIZE,
    FrameError,
    decode_header,
    decode_options,
)
from rr.goridge.rpc import encode_reply, request_codec
from rr.ratelog import RateLimitedLog
from rr.rpc.registry import Registry, RPCError

INVALID_DSN = "invalid socket DSN (tcp://:6001, unix://file.sock)"
# Requests of one connection that may run at once; reading pauses beyond that.
MAX_IN_FLIGHT = 64
MIB = 1024 * 1024


@dataclass(frozen=True)
class RPCLimits:
    max_frame_size: int = 64 * MIB
    #: from a frame's first byte to its last
    read_timeout: float = 60.0
    #: between frames; 0 = never. Off by default: a PHP worker keeps its RPC connection
    #: open between calls and cannot tell that the server closed it until its next call
    idle_timeout: float = 0.0

    @classmethod
    def from_config(cls, s: Section) -> RPCLimits:
        d = cls()
        size = s.integer("max_frame_size", d.max_frame_size // MIB)
        read = s.duration("read_timeout", d.read_timeout)
        idle = s.duration("idle_timeout", d.idle_timeout)
        if size <= 0:
            raise ConfigError(f"rpc.max_frame_size: expected a positive number of MB, "
                              f"got {s.raw('max_frame_size')!r}")
        if read <= 0:
            raise ConfigError(f"rpc.read_timeout: expected a positive duration like 30s, "
                              f"got {s.raw('read_timeout')!r}")
        return cls(max_frame_size=size * MIB, read_timeout=read, idle_timeout=idle)


class _Refused(Exception):
    """A frame that gets an error reply, then the connection closes."""

    def __init__(self, seq: int, text: str) -> None:
        super().__init__(text)
        self.seq = seq

# Per connection, seen by its request handlers (tasks copy the context they start in):
# done once the client has closed its side. A handler that may wait long (lock.Lock) stops
# waiting then, so a PHP process killed mid-wait is not handed a lock it never releases.
_peer_closed: contextvars.ContextVar[asyncio.Future[None] | None] = contextvars.ContextVar(
    "rpc_peer_closed", default=None)


def peer_closed() -> asyncio.Future[None] | None:
    """For a handler: a future done once its client closed the connection (None when the
    call did not come over a connection)."""
    return _peer_closed.get()


def _mark_closed(closed: asyncio.Future[None]) -> None:
    if not closed.done():
        closed.set_result(None)


@dataclass(frozen=True)
class Listen:
    """A parsed ``rpc.listen`` DSN."""

    scheme: str  # "tcp" or "unix"
    host: str = ""
    port: int = 0
    path: str = ""

    def __str__(self) -> str:
        return f"unix://{self.path}" if self.scheme == "unix" else f"tcp://{self.host}:{self.port}"


def parse_listen(dsn: str, key: str = "rpc.listen") -> Listen:
    """``tcp://host:port`` or ``unix:///path``; anything else is RoadRunner's DSN error."""
    if "://" not in dsn:
        raise ConfigError(f"{key}: {INVALID_DSN}, got {dsn!r}")
    scheme, _, rest = dsn.partition("://")
    scheme = scheme.lower()
    if scheme == "unix":
        if not rest:
            raise ConfigError(f"{key}: {INVALID_DSN}, got {dsn!r}: the socket path is empty")
        return Listen("unix", path=rest)
    if scheme != "tcp":
        raise ConfigError(f"{key}: {INVALID_DSN}, got {dsn!r}: scheme must be tcp or unix")
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"{key}: {INVALID_DSN}, got {dsn!r}: expected tcp://host:port")
    return Listen("tcp", host=host.strip("[]"), port=int(port))


def method_error(method: str, registry: Registry) -> str | None:
    """net/rpc's lookup messages for a method the registry does not have."""
    dot = method.rfind(".")
    if dot < 0:
        return f"rpc: service/method request ill-formed: {method}"
    if method[:dot] not in registry.services():
        return f"rpc: can't find service {method}"
    return f"rpc: can't find method {method}"


class RPCServer:
    def __init__(self, registry: Registry, listen: Listen,
                 logger: logging.Logger | None = None,
                 limits: RPCLimits | None = None) -> None:
        self.registry = registry
        self.listen = listen
        self.log = logger or logging.getLogger("rpc")
        self.limits = limits or RPCLimits()
        self._refusals = RateLimitedLog(self.log)
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> str:
        """The bound address (the real port when ``:0`` was asked for)."""
        if self._server is not None and self.listen.scheme == "tcp" and self._server.sockets:
            host, port = self._server.sockets[0].getsockname()[:2]
            return f"tcp://{host}:{port}"
        return str(self.listen)

    async def start(self) -> None:
        lst = self.listen
        try:
            if lst.scheme == "unix":
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(lst.path)  # a stale socket file of a previous run
                self._server = await asyncio.start_unix_server(self._serve, path=lst.path)
            else:
                self._server = await asyncio.start_server(
                    self._serve, host=lst.host or None, port=lst.port, reuse_address=True,
                    family=socket.AF_INET if lst.host and ":" not in lst.host
                    else socket.AF_UNSPEC)
        except OSError as e:
            net = "unix" if lst.scheme == "unix" else "tcp"
            where = lst.path if lst.scheme == "unix" else f"{lst.host}:{lst.port}"
            reason = (os.strerror(e.errno) if e.errno else str(e)).lower()
            raise RRError(f"listen {net} {where}: bind: {reason}") from None

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
            self._server = None
        if self.listen.scheme == "unix":
            with contextlib.suppress(OSError):
                os.unlink(self.listen.path)

    # ----------------------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        in_flight: set[asyncio.Task[None]] = set()
        slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        _peer_closed.set(closed)
        try:
            while True:
                request = await self._read_request(reader)
                if request is None:
                    _mark_closed(closed)
                    break
                await slots.acquire()
                t = asyncio.create_task(self._handle(writer, *request))
                in_flight.add(t)
                t.add_done_callback(in_flight.discard)
                t.add_done_callback(lambda _t: slots.release())
            if in_flight:
                # the client half-closed: answer what it already asked (handlers that
                # would wait for long see peer_closed() and answer at once)
                await asyncio.gather(*in_flight, return_exceptions=True)
        except _Refused as e:
            self._refusals.warning("frame", "rpc: frame refused, closing the connection",
                                   error=str(e))
            with contextlib.suppress(ConnectionError, OSError):
                writer.write(encode_reply(e.seq, b"", str(e).encode(), CODEC_JSON, error=True))
                await asyncio.wait_for(writer.drain(), 5)
        except asyncio.CancelledError:
            for t in in_flight:
                t.cancel()
        except (ConnectionError, OSError):
            pass
        finally:
            _mark_closed(closed)
            for t in in_flight:
                t.cancel()
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            self._connections.discard(task)

    async def _read_request(self, reader: asyncio.StreamReader
                            ) -> tuple[int, int, bytes, bytes] | None:
        """(flags, seq, method, argument) of the next frame; None = close the connection."""
        limits = self.limits
        first = b""
        try:
            async with asyncio.timeout(limits.idle_timeout or None):
                first = await reader.readexactly(1)
            async with asyncio.timeout(limits.read_timeout):
                return await self._read_frame(reader, first)
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        except TimeoutError:
            self.log.debug("rpc: closing the connection", extra={"fields": {
                "error": "idle" if not first else "frame not complete in time"}})
            return None

    async def _read_frame(self, reader: asyncio.StreamReader, first: bytes
                          ) -> tuple[int, int, bytes, bytes] | None:
        head = first + await reader.readexactly(HEADER_SIZE - 1)
        try:
            h = decode_header(head)
        except FrameError as e:
            self.log.debug("rpc: closing the connection", extra={"fields": {"error": str(e)}})
            return None
        if h.hl != 5:
            self.log.debug("rpc: closing the connection",
                           extra={"fields": {"error": f"expected 2 options, got {h.hl - 3}"}})
            return None
        seq, name_len = decode_options(await reader.readexactly(h.options_size), 2)
        if h.length > self.limits.max_frame_size:
            raise _Refused(seq, f"rpc: frame of {h.length} bytes exceeds rpc.max_frame_size "
                                f"({self.limits.max_frame_size} bytes)")
        payload = await reader.readexactly(h.length)
        if name_len > len(payload):
            self.log.debug("rpc: closing the connection", extra={"fields": {
                "error": f"method name length {name_len} exceeds the payload ({len(payload)})"}})
            return None
        return h.flags, seq, payload[:name_len], payload[name_len:]

    async def _handle(self, writer: asyncio.StreamWriter, flags: int, seq: int,
                      method_raw: bytes, arg: bytes) -> None:
        codec = request_codec(flags)
        method = method_raw.decode("utf-8", "replace")
        try:
            reply = await self._call(method, arg, codec)
            frame = encode_reply(seq, method_raw, reply, codec)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - every failure becomes an error frame
            if not isinstance(e, (RPCError, RRError, ConfigError, ValueError, KeyError,
                                  LookupError, TypeError)):
                self.log.error("rpc method failed", exc_info=True,
                               extra={"fields": {"method": method}})
            text = str(e) or type(e).__name__
            frame = encode_reply(seq, method_raw, text.encode("utf-8", "replace"), codec,
                                 error=True)
        if writer.is_closing():
            return
        try:
            writer.write(frame)
            await writer.drain()
        except (ConnectionError, OSError):
            pass

    async def _call(self, method: str, arg: bytes, codec: int) -> bytes:
        handler = self.registry.get(method)
        if handler is None:
            raise RPCError(method_error(method, self.registry))
        if codec == CODEC_GOB:
            raise RPCError(f"rpc: the gob codec is not supported by this server, "
                           f"call {method} with the JSON, raw or protobuf codec")
        return await handler(arg, codec)


__all__ = ["INVALID_DSN", "Listen", "RPCLimits", "RPCServer", "method_error", "parse_listen"]
