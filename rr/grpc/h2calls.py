"""The work on a native-front stream once its request is in: a proxied unary call,
health's Watch and reflection. Each runs as one task per stream."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from rr.grpc import reply as replies
from rr.grpc.h2stream import DEADLINE_SLACK, Stream, message_bytes
from rr.grpc.hpack_cache import RESPONSE_HEAD, TRAILERS_OK, metadata, trailers
from rr.grpc.proxy import elapsed_ms, execute
from rr.grpc.status import RESOURCE_EXHAUSTED, UNKNOWN, Failure, go_name

if TYPE_CHECKING:
    from rr.grpc.h2front import Connection


async def unary(conn: Connection, st: Stream) -> None:
    """One proxied call: the pool, then the reply or the error status."""
    srv = conn.srv
    status = "OK"
    try:
        assert st.msg is not None
        out = await execute(srv.pool(), st.head.context, st.msg, srv.log)
        body = out.body
        if len(body) > conn.o.max_send_msg_size:
            raise Failure(RESOURCE_EXHAUSTED, f"grpc: trying to send message larger than "
                          f"max ({len(body)} vs. {conn.o.max_send_msg_size})")
        head = RESPONSE_HEAD + metadata(out.headers) if out.headers else RESPONSE_HEAD
        tail = trailers(0, "", extra=out.trailers) if out.trailers else TRAILERS_OK
        drained = conn.send(st, head, message_bytes(body), tail)
        if drained is not None:
            await drained
        if srv.debug:
            srv.log.debug("method was called successfully", extra={"fields": {
                "method": st.route.path, "elapsed": elapsed_ms(st.start)}})
    except Failure as f:
        status = go_name(f.code)
        srv.log.error("method call was finished with error", extra={"fields": {
            "error": f.message, "method": st.route.path, "elapsed": elapsed_ms(st.start)}})
        carried = replies.carried(f)
        conn.answer(st, f.code, f.message, f.details, carried)
    except asyncio.CancelledError:
        status = cancel_status(conn, st)
        raise
    except Exception as e:
        status = "Unknown"
        srv.log.exception("grpc call failed", extra={"fields": {"method": st.route.path}})
        conn.answer(st, UNKNOWN, f"unexpected error: {e}")
    finally:
        srv.call_finished(st.route.path, status, time.monotonic() - st.start)
        st.observed = False
        conn.release()
        conn.stream_done(st)

def cancel_status(conn: Connection, st: Stream) -> str:
    # a client's own deadline timer usually fires a moment before the server's: a
    # cancel that close to the deadline is the deadline
    if st.expired or (st.deadline and st.deadline - conn.loop.time() < DEADLINE_SLACK):
        return "DeadlineExceeded"
    return "Canceled"

async def server_stream(conn: Connection, st: Stream) -> None:
    """Health Watch: one message per status, trailers when the plugin stops."""
    assert st.route.stream is not None and st.msg is not None
    head: bytes | None = RESPONSE_HEAD
    try:
        async for message in st.route.stream(st.msg):
            drained = conn.send(st, head, message_bytes(message), None)
            head = None
            if drained is not None:
                await drained
        conn.send(st, head, b"", TRAILERS_OK)
    finally:
        conn.stream_done(st)

async def bidi(conn: Connection, st: Stream) -> None:
    """Reflection: request messages from the stream's queue, replies as they come."""
    assert st.route.bidi is not None and st.queue is not None
    queue = st.queue

    async def requests() -> object:
        while (item := await queue.get()) is not None:
            yield item

    head: bytes | None = RESPONSE_HEAD
    try:
        async for message in st.route.bidi(requests()):  # type: ignore[arg-type]
            drained = conn.send(st, head, message_bytes(message), None)
            head = None
            if drained is not None:
                await drained
        conn.send(st, head, b"", TRAILERS_OK)
    except Exception as e:
        if not st.local_closed:
            conn.answer(st, UNKNOWN, f"unexpected error: {e}")
    finally:
        conn.stream_done(st)
