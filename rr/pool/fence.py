"""Fenced exchanges: a request with a pid request written right behind it.

Some protocols leave it to the PHP code whether it answers at all: the SDK README of
spiral/roadrunner-tcp says a CLOSE event needs no reply, yet workers that do reply are
just as common (spec/tcp.md §4, §9). Waiting for a reply that never comes wedges the
worker; not waiting lets a late reply become the answer to the next request.

The SDK's ``Worker::waitPayload()`` answers a pid request (CONTROL frame) by itself, at
any time, without user code. So the pool sends ``request ‖ pid request`` in one write and
reads until the CONTROL answer arrives: every frame before it belongs to this request
(the first is the reply, more are strays such as the README's ``respond(); error();``
catch block), and after it the worker is provably waiting for its next frame. No timer
guesses at whether a reply is coming, and frames never slip onto the next request.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import TYPE_CHECKING

from rr.goridge import frame as fr
from rr.goridge.frame import Frame
from rr.pool.errors import ExecTTLError, SoftJobError, WorkerError
from rr.pool.payload import Payload
from rr.pool.state import WorkerState

if TYPE_CHECKING:
    from rr.pool.pool import Pool
    from rr.pool.worker import Worker

_FENCE: bytes | None = None


def fence_frame() -> bytes:
    global _FENCE
    if _FENCE is None:
        _FENCE = fr.encode(json.dumps({"pid": os.getpid()}).encode(),
                           fr.CONTROL | fr.CODEC_JSON)
    return _FENCE


async def exchange(pool: Pool, w: Worker, payload: Payload) -> Payload | None:
    """One fenced request on a taken worker; releases or retires the worker."""
    w.state = WorkerState.WORKING
    w.last_used = time.monotonic()
    w.begin()
    try:
        w.send(fr.encode_payload(payload.context, payload.body, payload.flags) + fence_frame())
    except WorkerError:
        pool._retire(w, WorkerState.ERRORED, kill=True)
        raise
    w.num_execs += 1
    expired = False

    def expire() -> None:
        nonlocal expired
        expired = True
        w.kill()
        w.fail(ExecTTLError())

    ttl = pool._exec_ttl
    timer = asyncio.get_running_loop().call_later(ttl, expire) if ttl > 0 else None
    reply: Frame | None = None
    result: Payload | None = None
    strays = 0
    try:
        while True:
            try:
                f = await w.recv()
            except WorkerError as e:
                if expired:
                    pool._on_exec_ttl(w)
                    raise ExecTTLError() from None
                pool._on_broken(w, e)
                if result is not None:
                    return result  # answered, then died before the barrier: the answer stands
                raise
            except asyncio.CancelledError:
                pool._retire(w, WorkerState.ERRORED, kill=True)
                raise
            if f.flags & fr.CONTROL:
                break
            if reply is not None:
                strays += 1
                continue
            reply = f
            if not f.flags & fr.ERROR:
                result = pool._classify(w, f)  # retires the worker itself on a bad frame
                if result.stream:
                    pool._retire(w, WorkerState.INVALID, kill=True)
                    raise WorkerError("streaming is not supported")
    finally:
        if timer is not None:
            timer.cancel()
    if strays:
        pool.log.warning("stray frame after the reply discarded",
                         extra={"fields": {"pid": w.pid, "frames": strays}})
    if reply is not None and reply.flags & fr.ERROR:
        pool._classify(w, reply)  # logs, releases the worker and raises SoftJobError
        raise SoftJobError(reply.payload.decode("utf-8", "replace"))  # pragma: no cover
    pool._done(w)
    return result
