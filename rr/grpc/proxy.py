"""Every proxied call: request bytes and metadata to one PHP worker, its reply back.

Messages are never decoded: grpcio hands the handler the raw request bytes (no
deserializer) and sends the returned bytes as they are. One generic handler answers
every path, so unknown services and methods get RoadRunner's texts (spec §3.3) and
streaming methods a clear refusal, without touching PHP.

``execute`` (one call on a worker → Reply or Failure) and the refusal texts are shared
with the native front (``h2calls``, ``routes``); ``Proxy`` is the grpcio front's handler.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from typing import Any

import grpc

from rr.goridge.frame import CODEC_JSON
from rr.grpc import reply as replies
from rr.grpc import request
from rr.grpc.limiter import StreamLimiter
from rr.grpc.metrics import GrpcMetrics
from rr.grpc.protos import Kind, Method, ProtoSet
from rr.grpc.status import INTERNAL, UNKNOWN, Failure, go_name
from rr.pool.errors import PoolError, SoftJobError, StreamingNotSupportedError
from rr.pool.payload import Payload
from rr.pool.pool import Pool

DEADLINE_SLACK = 0.05  # seconds
Context = Any  # grpc.aio.ServicerContext (generic in grpcio's stubs)


class Proxy(grpc.GenericRpcHandler):
    def __init__(self, pool: Callable[[], Pool], protos: ProtoSet, limiter: StreamLimiter,
                 tls: bool, log: logging.Logger, metrics: GrpcMetrics | None) -> None:
        self._pool = pool
        self._limiter = limiter
        self._tls = tls
        self.log = log
        self.metrics = metrics
        self._debug = log.isEnabledFor(logging.DEBUG)  # read once: the hot path
        self.services = set(protos.services)
        self._table: dict[str, grpc.RpcMethodHandler] = {
            m.path: self._handler(m) for m in protos.methods()}

    def _handler(self, m: Method) -> grpc.RpcMethodHandler:
        if m.kind is Kind.UNARY:
            return grpc.unary_unary_rpc_method_handler(
                functools.partial(self._unary, request.prefix(m.service, m.name), m.path))
        return _refusal(streaming_text(m))

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        found = self._table.get(details.method)
        if found is not None:
            return found
        return _refusal(refusal_text(details.method, self.services))

    async def _unary(self, prefix: bytes, path: str, body: bytes, ctx: Context) -> bytes:
        start = time.monotonic()
        status = "OK"
        m = self.metrics
        if m is not None:
            m.queue.inc()
        peer = ctx.peer()
        admitted = False
        try:
            await self._limiter.acquire(peer)
            admitted = True
            out = await self._call(prefix, body, ctx, peer)
            if self._debug:
                self.log.debug("method was called successfully",
                               extra={"fields": {"method": path, "elapsed": elapsed_ms(start)}})
            return out
        except Failure as f:
            status = go_name(f.code)
            self.log.error("method call was finished with error",
                           extra={"fields": {"error": f.message, "method": path,
                                             "elapsed": elapsed_ms(start)}})
            await _abort(ctx, f)
            raise AssertionError("unreachable") from None  # abort() raises
        except asyncio.CancelledError:
            # the client's own deadline timer usually fires first and resets the stream a
            # moment before the server's: a cancel that close to the deadline is the deadline
            remaining = ctx.time_remaining()
            status = "DeadlineExceeded" if remaining is not None and remaining < DEADLINE_SLACK \
                else "Canceled"
            raise
        except Exception:  # grpcio answers UNKNOWN for anything a handler raises
            status = "Unknown"
            raise
        finally:
            if admitted:
                self._limiter.release(peer)
            if m is not None:
                m.queue.dec()
                m.observe(path, status, time.monotonic() - start)

    async def _call(self, prefix: bytes, body: bytes, ctx: Context, peer: str) -> bytes:
        context = prefix + request.context_json(ctx.invocation_metadata() or (), peer,
                                                self._tls) + b"}"
        try:
            out = await execute(self._pool(), context, body, self.log)
        except Failure as f:
            carried = replies.carried(f)
            if carried is not None:
                await _send_metadata(ctx, carried)
            raise
        await _send_metadata(ctx, out)
        return out.body


async def execute(pool: Pool, context: bytes, body: bytes, log: logging.Logger) -> replies.Reply:
    """One call on a worker, whatever the transport: the reply, or a Failure (which may
    carry the headers/trailers PHP set beside an error, ``replies.carried``)."""
    try:
        answer = await pool.exec(Payload(context, body, CODEC_JSON))
    except SoftJobError as e:
        raise replies.error_frame(e.message, str(e)) from None
    except StreamingNotSupportedError as e:
        raise Failure(UNKNOWN, str(e)) from None
    except PoolError as e:
        raise Failure(INTERNAL, str(e)) from None
    return replies.decode(answer.context, answer.body, log)


def refusal_text(path: str, services: set[str]) -> str:
    """RoadRunner's texts for a path that is not a registered method (spec §3.3)."""
    service, _, method = path.lstrip("/").partition("/")
    if service in services:
        return f"unknown method {method} for service {service}"
    return f"unknown service {service}"


def streaming_text(m: Method) -> str:
    # RoadRunner registers streaming rpcs as unary and then misbehaves (one message
    # per direction, a STREAM reply fails); rr refuses them clearly instead
    return f"{m.path[1:]} is a {m.kind.value} method; rr serves unary methods only"


async def _send_metadata(ctx: Context, out: replies.Reply) -> None:
    if out.headers:
        await ctx.send_initial_metadata(out.headers)
    if out.trailers:
        ctx.set_trailing_metadata(out.trailers)


async def _abort(ctx: Context, f: Failure) -> None:
    if f.details:
        trailing: list[Any] = list(ctx.trailing_metadata() or ())
        trailing.append(("grpc-status-details-bin", f.details))
        ctx.set_trailing_metadata(trailing)
    await ctx.abort(f.status_code, f.message)


def _refusal(text: str) -> grpc.RpcMethodHandler:
    """Answers UNIMPLEMENTED whatever the client streams (the request is never read)."""

    async def refuse(requests: Any, ctx: Context) -> None:
        await ctx.abort(grpc.StatusCode.UNIMPLEMENTED, text)

    return grpc.stream_stream_rpc_method_handler(refuse)


def elapsed_ms(start: float) -> str:
    return f"{(time.monotonic() - start) * 1000:.3f}ms"

