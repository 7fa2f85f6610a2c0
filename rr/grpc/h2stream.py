"""Per-stream state of the native gRPC front and the pure steps of reading a request:
the request head from its header fields, grpc-timeout, decompression."""

from __future__ import annotations

import asyncio
import base64
import binascii
import zlib
from dataclasses import dataclass

from rr.grpc import h2wire as w
from rr.grpc import request
from rr.grpc.routes import Route, RouteKind, Routes
from rr.grpc.status import INTERNAL, RESOURCE_EXHAUSTED, UNIMPLEMENTED, Failure

DEADLINE_SLACK = 0.05
_UNITS = {ord("H"): 3600.0, ord("M"): 60.0, ord("S"): 1.0, ord("m"): 1e-3, ord("u"): 1e-6,
          ord("n"): 1e-9}


@dataclass(frozen=True, slots=True)
class Head:
    """What a request header block says; cached per block, so immutable."""

    route: Route
    context: bytes  # PROXY: the whole worker context JSON
    timeout: float | None
    encoding: bytes
    error: str = ""  # not a gRPC request: answered with this at once
    http_status: bytes = b""


class Stream:
    __slots__ = ("sid", "head", "route", "buf", "msg", "queue", "send_window", "recv_unacked",
                 "remote_closed", "local_closed", "gone", "expired", "task", "timer", "start",
                 "deadline", "pending", "pending_tail", "drained", "queued", "observed",
                 "headers_sent")

    def __init__(self, sid: int, head: Head, send_window: int, start: float) -> None:
        self.sid = sid
        self.head = head
        self.route = head.route
        self.buf = bytearray()
        self.msg: bytes | None = None
        self.queue: asyncio.Queue[bytes | None] | None = None
        self.send_window = send_window
        self.recv_unacked = 0
        self.remote_closed = False
        self.local_closed = False
        self.gone = False
        self.expired = False
        self.task: asyncio.Task[None] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.start = start
        self.deadline = 0.0
        self.pending = b""
        self.pending_tail: bytes | None = None
        self.drained: asyncio.Future[None] | None = None
        self.queued = False
        self.observed = False  # counted in the metrics (queue gauge, request total)
        self.headers_sent = False


def parse_head(fields: list[tuple[bytes, bytes]], routes: Routes, peer: str, tls: bool
               ) -> Head:
    """A request header block's fields → Head (what a connection caches per block)."""
    path = method = ctype = b""
    encoding = b""
    timeout: float | None = None
    md: list[tuple[str, str | bytes]] = []
    for name, value in fields:
        if name.startswith(b":"):
            if name == b":path":
                path = value
            elif name == b":method":
                method = value
            elif name == b":authority":
                md.append((":authority", value.decode("utf-8", "replace")))
        elif name == b"content-type":
            ctype = value
        elif name == b"grpc-timeout":
            timeout = parse_timeout(value)
        elif name == b"grpc-encoding":
            encoding = value
        else:
            key = name.decode("latin-1")
            if key.endswith("-bin"):
                try:
                    md.append((key, base64.b64decode(value + b"=" * (-len(value) % 4))))
                except binascii.Error:
                    continue
            else:
                md.append((key, value.decode("utf-8", "replace")))
    route = routes.get(path)
    if method != b"POST" or not path:
        return Head(route, b"", None, b"", "malformed method or path", b"405")
    if not ctype.startswith(b"application/grpc"):
        return Head(route, b"", None, b"",
                    f"transport: received unexpected content-type {ctype.decode('latin-1')!r}",
                    b"415")
    context = b""
    if route.kind is RouteKind.PROXY:
        context = route.prefix + request.context_json(md, peer, tls) + b"}"
    return Head(route, context, timeout, encoding)


def decompress(encoding: bytes, msg: bytes, limit: int) -> bytes:
    """A compressed request message (gzip or deflate), bounded by ``limit``."""
    if encoding == b"gzip":
        d = zlib.decompressobj(wbits=31)
    elif encoding == b"deflate":
        d = zlib.decompressobj()
    elif encoding in (b"", b"identity"):
        raise Failure(INTERNAL, "grpc: compressed flag set with identity or empty encoding")
    else:
        raise Failure(UNIMPLEMENTED, "grpc: Decompressor is not installed for "
                      f"grpc-encoding \"{encoding.decode('latin-1')}\"")
    try:
        out = d.decompress(msg, limit + 1)
    except zlib.error as e:
        raise Failure(INTERNAL, f"grpc: failed to decompress the received message: {e}") \
            from None
    if len(out) > limit:
        raise Failure(RESOURCE_EXHAUSTED, f"grpc: received message after decompression "
                      f"larger than max ({len(out)}+ vs. {limit})")
    return out


def message_bytes(body: bytes) -> bytes:
    return w.GRPC_PREFIX.pack(0, len(body)) + body


def parse_timeout(value: bytes) -> float | None:
    """``grpc-timeout``: up to 8 digits and a unit (H M S m u n); None when malformed."""
    if len(value) < 2 or len(value) > 9 or not value[:-1].isdigit():
        return None
    unit = _UNITS.get(value[-1])
    return None if unit is None else int(value[:-1]) * unit
