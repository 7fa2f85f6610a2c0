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
    """One fenced request on a taken worker. The reply goes back to the caller as soon
    as it arrives; the worker stays taken until the barrier's answer, which a callback
    (not a coroutine: this is per event) waits for."""
    w.state = WorkerState.WORKING
    w.last_used = time.monotonic()
    w.begin()
    try:
        w.send(fr.encode_payload(payload.context, payload.body, payload.flags) + fence_frame())
    except WorkerError:
        pool._retire(w, WorkerState.ERRORED, kill=True)
        raise
    w.num_execs += 1
    fence = _Fence(pool, w)
    try:
        f = await w.recv()
    except WorkerError as e:
        fence.failed(e)
        if fence.expired:
            raise ExecTTLError() from None
        raise
    except asyncio.CancelledError:
        fence.cancel()
        pool._retire(w, WorkerState.ERRORED, kill=True)
        raise
    if f.flags & fr.CONTROL:
        fence.passed()  # the worker sent no reply at all
        return None
    if f.flags & fr.ERROR:
        msg = f.payload.decode("utf-8", "replace")
        pool.log.warning("soft worker error", extra={"fields": {"pid": w.pid, "message": msg}})
        fence.wait()
        raise SoftJobError(msg)
    try:
        result = pool._classify(w, f)  # retires the worker itself on a bad frame
    except BaseException:
        fence.cancel()
        raise
    if result.stream:
        fence.cancel()
        pool._retire(w, WorkerState.INVALID, kill=True)
        raise WorkerError("streaming is not supported")
    fence.wait()
    return result


class _Fence:
    """Waits for the barrier's answer behind a reply; frames before it are strays."""

    __slots__ = ("pool", "w", "timer", "expired", "strays")

    def __init__(self, pool: Pool, w: Worker) -> None:
        self.pool = pool
        self.w = w
        self.expired = False
        self.strays = 0
        ttl = pool._exec_ttl
        self.timer = (asyncio.get_running_loop().call_later(ttl, self._expire)
                      if ttl > 0 else None)

    def _expire(self) -> None:
        self.expired = True
        self.w.kill()
        self.w.fail(ExecTTLError())

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()

    def failed(self, e: BaseException) -> None:
        self.cancel()
        if self.expired:
            self.pool._on_exec_ttl(self.w)
        elif self.w.state == WorkerState.WORKING:
            self.pool._on_broken(self.w, e)

    def passed(self) -> None:
        self.cancel()
        if self.strays:
            self.pool.log.warning("stray frame after the reply discarded",
                                  extra={"fields": {"pid": self.w.pid, "frames": self.strays}})
        self.pool._done(self.w)

    def wait(self) -> None:
        self.w.recv().add_done_callback(self._on_frame)

    def _on_frame(self, fut: asyncio.Future[Frame]) -> None:
        if fut.cancelled():
            return
        exc = fut.exception()
        if exc is not None:
            self.failed(exc)
            return
        if fut.result().flags & fr.CONTROL:
            self.passed()
            return
        self.strays += 1
        self.w.recv().add_done_callback(self._on_frame)
