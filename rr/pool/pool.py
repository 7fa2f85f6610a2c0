"""A pool of PHP workers: allocation, FIFO hand-out, limits, replacement, reset, destroy.

Requests wait in FIFO order for a free worker (fair queueing keeps the tail latency
bounded when Python is the bottleneck). Every way a worker can end — crash, exec_ttl,
max_jobs, supervisor limits, worker-initiated stop, reset — goes through ``_retire`` so
that replacement and back-off live in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from rr.goridge import frame as fr
from rr.goridge.frame import Frame
from rr.pool.config import PoolConfig
from rr.pool.errors import (
    ExecTTLError,
    MaxQueueSizeError,
    NoFreeWorkersError,
    PoolError,
    PoolStoppedError,
    SoftJobError,
    StreamingNotSupportedError,
    WorkerError,
)
from rr.pool.payload import Payload
from rr.pool.scaler import Scaler
from rr.pool.spawn import spawn
from rr.pool.state import WorkerState
from rr.pool.worker import (
    PID_REQUEST,
    PONG,
    STOP_REQUEST,
    STREAM_STOP,
    Worker,
    is_stop_request,
)

# a request that keeps making workers ask for replacement is not retried forever
MAX_STOP_RETRIES = 10
MAX_BACKOFF = 30.0
#: a worker that exits on its own (not killed by a request) this soon after its spawn
#: counts as a failed start for its slot's back-off
EARLY_EXIT = 2.0


class _StopRequested(Exception):
    """The worker asked to be replaced instead of answering; retry elsewhere."""


class WorkerInfo:
    def __init__(self, worker: Worker) -> None:
        self._d = worker.info()
        self.pid: int = self._d["pid"]
        self.state = worker.state

    def to_dict(self) -> dict[str, Any]:
        return dict(self._d)


class Pool:
    def __init__(self, name: str, config: PoolConfig, command: list[str], env: dict[str, str],
                 relay: str = "pipes", user: str = "",
                 logger: logging.Logger | None = None) -> None:
        self.name = name
        self.cfg = config
        self.command = command
        self.env = env
        self.relay = relay
        self.user = user
        self.log = logger or logging.getLogger("server")
        self.workers_set: set[Worker] = set()
        self._idle: deque[Worker] = deque()
        self._waiters: deque[asyncio.Future[Worker]] = deque()
        self._deadlines: deque[float] = deque()  # parallel to _waiters
        self._watchdog: asyncio.TimerHandle | None = None
        self._queued = 0
        self._stopped = False
        self._started = False
        self._generation = 0
        self._spawning = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._supervisor: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self.target = 0 if config.debug else config.num_workers
        self._exec_ttl = config.exec_ttl  # read on every request
        dyn = None if config.debug else config.dynamic
        self._scaler = Scaler(self, dyn) if dyn is not None else None
        #: last-in-first-out hand-out while the dynamic allocator is on, so that the
        #: workers a lighter load does not need go idle and can be retired
        self._lifo = self._scaler is not None
        #: told the new worker count after add_worker (the jobs plugin runs one poller per
        #: worker)
        self.on_resize: Callable[[int], None] | None = None
        #: kill (and replace) a worker whose caller went away mid-request instead of
        #: waiting for its late reply: gRPC with exec_ttl (spec/grpc.md §5.5)
        self.kill_abandoned = False

    # -- lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        """Allocate num_workers in parallel; if any fails, kill all and raise."""
        results = await asyncio.gather(*(self._spawn() for _ in range(self.target)),
                                       return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            for r in results:
                if isinstance(r, Worker):
                    r.kill()
            raise errors[0] if isinstance(errors[0], PoolError) else WorkerError(str(errors[0]))
        for w in results:
            assert isinstance(w, Worker)
            self._release(w)
        self._started = True
        sup = self.cfg.supervisor
        if sup is not None and sup.enabled:
            self._supervisor = asyncio.get_running_loop().create_task(self._supervise())
        if self._scaler is not None:
            self._scaler.start()
        self.log.debug("pool started", extra={"fields": {"pool": self.name,
                                                          "workers": self.target}})

    async def destroy(self, timeout: float | None = None) -> None:
        """Stop taking work, let running requests finish (destroy_timeout), stop workers."""
        if self._stopped:
            return
        self._stopped = True
        if self._supervisor is not None:
            self._supervisor.cancel()
        if self._scaler is not None:
            self._scaler.stop()
        while self._waiters:
            f = self._waiters.popleft()
            self._deadlines.popleft()
            if not f.done():
                f.set_exception(PoolStoppedError())
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        deadline = time.monotonic() + (self.cfg.destroy_timeout if timeout is None else timeout)
        while any(w.busy for w in self.workers_set):
            if time.monotonic() >= deadline:
                break
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), 0.1)
        workers = list(self.workers_set)
        for w in workers:
            if w.busy:
                # still working after destroy_timeout: it would not read a stop command
                # before its request ends, so the stop grace would only add to shutdown
                w.kill()
            w.state = WorkerState.DESTROYED
        self._idle.clear()
        await asyncio.gather(*(w.stop(self.cfg.stop_grace) for w in workers),
                             return_exceptions=True)
        pending = list(self._tasks)
        for t in pending:
            t.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        self.workers_set.clear()

    # -- informer / status -------------------------------------------------------------
    def workers(self) -> list[WorkerInfo]:
        return [WorkerInfo(w) for w in sorted(self.workers_set, key=lambda w: w.pid)]

    def ready(self) -> bool:
        return any(w.state == WorkerState.READY for w in self.workers_set)

    def alive(self) -> bool:
        return any(w.state in (WorkerState.READY, WorkerState.WORKING)
                   for w in self.workers_set)

    @property
    def capacity(self) -> int:
        """The most workers the pool may hold: num_workers plus the dynamic extra."""
        return self.target + (self._scaler.cfg.max_workers if self._scaler else 0)

    @property
    def queue_size(self) -> int:
        return self._queued

    # -- exec ------------------------------------------------------------------------------
    async def exec(self, payload: Payload) -> Payload:
        """Run one request on a free worker and return its (single-frame) reply."""
        if not payload.context and not payload.body:
            raise PoolError("payload can not be empty")
        self._enter()
        try:
            for _ in range(MAX_STOP_RETRIES):
                w = await self._take()
                try:
                    reply = await self._exchange(w, payload)
                except _StopRequested:
                    continue
                if reply.stream:
                    self._retire(w, WorkerState.INVALID, kill=True)
                    raise StreamingNotSupportedError()
                self._done(w)
                return reply
            raise WorkerError(f"{MAX_STOP_RETRIES} workers in a row asked to be stopped "
                              "instead of answering this request")
        finally:
            self._queued -= 1

    async def exec_fenced(self, payload: Payload) -> Payload | None:
        """Run one request with a pid request right behind it as a barrier; the reply is
        the first frame before the barrier's answer, None when the worker sent none.

        For protocols whose workers may or may not answer (the tcp CLOSE event): the
        worker is free exactly when the barrier comes back, so a skipped reply neither
        wedges it nor shifts a late frame onto the next request (rr/pool/fence.py)."""
        from rr.pool.fence import exchange

        if not payload.context and not payload.body:
            raise PoolError("payload can not be empty")
        self._enter()
        try:
            for _ in range(MAX_STOP_RETRIES):
                w = await self._take()
                try:
                    return await exchange(self, w, payload)
                except _StopRequested:
                    continue
            raise WorkerError(f"{MAX_STOP_RETRIES} workers in a row asked to be stopped "
                              "instead of answering this request")
        finally:
            self._queued -= 1

    def stream(self, payload: Payload) -> _StreamCall:
        """A possibly streamed reply: ``async with pool.stream(p) as frames`` yields an
        iterator over the reply frames.

        Leaving the block before the last frame sends STOP and drains the worker
        (bounded by stream_timeout) before it is reused. A plain class rather than an
        async-generator context manager: this is the HTTP hot path."""
        if not payload.context and not payload.body:
            raise PoolError("payload can not be empty")
        return _StreamCall(self, payload)

    async def _start_stream(self, payload: Payload) -> _Frames:
        self._enter()
        try:
            for _ in range(MAX_STOP_RETRIES):
                w = await self._take()
                try:
                    first = await self._exchange(w, payload)
                except _StopRequested:
                    continue
                return _Frames(self, w, first)
            raise WorkerError(f"{MAX_STOP_RETRIES} workers in a row asked to be stopped "
                              "instead of answering this request")
        except BaseException:
            self._queued -= 1
            raise

    def _enter(self) -> None:
        if self._stopped:
            raise PoolStoppedError()
        if self.cfg.max_queue_size and self._queued >= self.cfg.max_queue_size:
            raise MaxQueueSizeError()
        self._queued += 1

    async def _exchange(self, w: Worker, payload: Payload) -> Payload:
        """Send the request and read the first reply frame; settles the worker on error."""
        w.state = WorkerState.WORKING
        w.last_used = time.monotonic()
        w.begin()
        if w.stop_signalled or w.out_of_step:
            await self._prepare(w)
        try:
            w.send(fr.encode_payload(payload.context, payload.body, payload.flags))
        except WorkerError:
            self._retire(w, WorkerState.ERRORED, kill=True)
            raise
        w.num_execs += 1
        return await self._read(w)

    async def _prepare(self, w: Worker) -> None:
        """Before a request: a worker that asked to stop takes none, one that sent stray
        frames is brought back in step first. Either way the request was not sent, so a
        failure here retries it on another worker."""
        if not w.stop_signalled:
            try:
                strays = await self._resync(w)
            except (WorkerError, ExecTTLError):
                raise _StopRequested() from None  # _recv retired the worker
            for f in strays:
                self._log_stray(w, f)
            if not w.stop_signalled and not any(f.byte10 & fr.STREAM for f in strays):
                return
        self._retire(w, WorkerState.INVALID)
        raise _StopRequested()

    async def _resync(self, w: Worker) -> list[Frame]:
        """Send a CONTROL pid request and read up to its answer (spec §3: PHP answers it
        in order). Every frame before the answer was written before the worker read the
        request; after it the worker is in step. Stops early at a stream (its answer then
        comes after the stream) or a stop request (no answer will come)."""
        w.out_of_step = False
        w.pid_acks += 1
        try:
            w.send(PID_REQUEST)
        except WorkerError:
            self._retire(w, WorkerState.ERRORED, kill=True)
            raise
        frames: list[Frame] = []
        while True:
            f = await self._recv(w)
            if f.flags & fr.CONTROL:
                w.pid_acks -= 1
                if not w.pid_acks:
                    return frames
                continue
            frames.append(f)
            if is_stop_request(f):
                w.stop_signalled = True
                return frames
            if f.byte10 & fr.STREAM:
                return frames

    async def _true_reply(self, w: Worker, f: Frame) -> Frame:
        """An ERROR or CONTROL frame where a reply was expected.

        A pid answer left over from a resync is skipped. An ERROR frame may be the stray
        second frame of the previous request (the SDK README's respond-then-error) or
        this request's own error: resync, and a data frame before the pid answer is this
        request's real reply; with none, the error was its own."""
        while f.flags & fr.CONTROL and not f.flags & fr.ERROR and w.pid_acks:
            w.pid_acks -= 1
            f = await self._recv(w)
        if not f.flags & fr.ERROR:
            return f
        frames = await self._resync(w)
        for g in frames:
            if not g.flags & fr.ERROR:
                self._log_stray(w, f)
                return g
        return frames[-1] if frames else f

    def _log_stray(self, w: Worker, f: Frame) -> None:
        if f.flags & fr.ERROR:
            # still the app's own report of a failure: log it as RoadRunner would have
            self.log.warning("soft worker error", extra={"fields": {
                "pid": w.pid, "message": f.payload.decode("utf-8", "replace"),
                "stray": True}})
            return
        self.log.warning("stray frame from the worker discarded",
                         extra={"fields": {"pid": w.pid, "pool": self.name, "flags": f.flags,
                                           "size": len(f.payload)}})

    def _on_stray(self, w: Worker, f: Frame) -> None:
        """A frame outside any request. The reference server keeps it for the next
        request (spec §4.3), which then gets another request's answer; rr marks the
        worker out of step so that it is resynced before its next request."""
        if f.flags & fr.CONTROL and w.pid_acks:
            w.pid_acks -= 1  # the late answer of a resync that returned early
            return
        if is_stop_request(f):
            w.stop_signalled = True
            if w in self._idle:
                self._retire(w, WorkerState.INVALID)
            return
        w.out_of_step = True
        self._log_stray(w, f)

    async def _read(self, w: Worker) -> Payload:
        """Read one reply frame with exec_ttl; classify it (spec §4.2)."""
        f = await self._recv(w)
        if f.flags & (fr.ERROR | fr.CONTROL):
            f = await self._true_reply(w, f)
        return self._classify(w, f)

    async def _recv(self, w: Worker) -> Frame:
        """The next frame with exec_ttl; a dead or timed-out worker is retired."""
        fut = w.recv()
        ttl = self._exec_ttl
        handle = None
        if ttl > 0:
            handle = asyncio.get_running_loop().call_later(ttl, _expire, w, fut)
        try:
            f = await fut
        except asyncio.CancelledError:
            # The caller went away mid-request (no shield on the hot path: awaiting the
            # future directly saves a loop iteration). Settle the worker once its reply,
            # an error or the exec_ttl arrives.
            if not fut.cancelled():
                raise
            if handle is not None:
                handle.cancel()
            if self.kill_abandoned:
                handle = None
                self.log.warning("worker stopped, and will be restarted",
                                 extra={"fields": {"pid": w.pid, "pool": self.name,
                                                   "reason": "the caller went away"}})
                self._retire(w, WorkerState.EXEC_TTL_REACHED, kill=True)
                raise
            late = w.recv()
            if ttl > 0:
                handle = asyncio.get_running_loop().call_later(ttl, _expire, w, late)
            late.add_done_callback(lambda f: self._settle_abandoned(w, f))
            handle = None
            raise
        except ExecTTLError:
            self._on_exec_ttl(w)
            raise
        except WorkerError as e:
            if w.stop_signalled:
                # it asked to stop and exited before reading the request: run it elsewhere
                self._retire(w, WorkerState.INVALID, kill=True)
                raise _StopRequested() from None
            self._on_broken(w, e)
            raise
        finally:
            if handle is not None:
                handle.cancel()
        return f

    def _on_exec_ttl(self, w: Worker) -> None:
        self.log.warning("worker stopped, and will be restarted",
                         extra={"fields": {"pid": w.pid, "reason": "execTTL timeout elapsed",
                                           "pool": self.name}})
        self._retire(w, WorkerState.EXEC_TTL_REACHED, kill=True)

    def _on_broken(self, w: Worker, e: BaseException) -> None:
        self.log.warning("RoadRunner can't communicate with the worker",
                         extra={"fields": {"pid": w.pid, "error": str(e), "pool": self.name}})
        self._retire(w, WorkerState.ERRORED, kill=True)

    def _classify(self, w: Worker, f: Frame) -> Payload:
        if f.flags & fr.ERROR:
            msg = f.payload.decode("utf-8", "replace")
            self.log.warning("soft worker error", extra={"fields": {"pid": w.pid,
                                                                     "message": msg}})
            self._done(w)
            raise SoftJobError(msg)
        if len(f.options) != 1:
            self.log.warning("worker will be restarted",
                             extra={"fields": {"pid": w.pid, "reason":
                                               "options length should be equal 1 (body offset)"}})
            self._retire(w, WorkerState.ERRORED)
            raise WorkerError("options length should be equal 1 (body offset)")
        off = f.options[0]
        if off > len(f.payload):
            self._retire(w, WorkerState.ERRORED, kill=True)
            raise WorkerError(f"bad payload: context length {off} > payload {len(f.payload)}")
        stream = bool(f.byte10 & fr.STREAM)
        if f.byte10 & fr.PING:
            with contextlib.suppress(WorkerError):
                w.send(PONG)
        if not stream and off == len(f.payload) and f.payload == STOP_REQUEST:
            self._retire(w, WorkerState.INVALID)
            raise _StopRequested()
        if off == len(f.payload):
            return Payload(f.payload, b"", f.flags, stream)
        if off == 0:
            return Payload(b"", f.payload, f.flags, stream)
        data = f.payload
        return Payload(data[:off], data[off:], f.flags, stream)

    def _settle_abandoned(self, w: Worker, f: asyncio.Future[Frame]) -> None:
        if f.cancelled() or f.exception() is not None:
            if w.state == WorkerState.WORKING:
                self._retire(w, WorkerState.ERRORED, kill=True)
            return
        frame = f.result()
        if w.pid_acks:
            w.out_of_step = True  # abandoned in the middle of a resync
        if frame.flags & (fr.ERROR | fr.CONTROL):
            # no resync from a callback: whatever it was, the next request resyncs first
            if frame.flags & fr.CONTROL and w.pid_acks:
                w.pid_acks -= 1
            w.out_of_step = True
            self._done(w)
            return
        try:
            reply = self._classify(w, frame)
        except (_StopRequested, PoolError):
            return  # _classify already released or retired the worker
        if reply.stream:
            # the abandoned request streams: stop it and drain in the background
            self._bg(_Frames(self, w, reply).finish(stop=True))
            return
        self._done(w)

    # -- taking and giving back workers -----------------------------------------------------
    async def _take(self) -> Worker:
        if self.cfg.debug:
            return await self._spawn()
        idle = self._idle
        while idle:
            w = idle.pop() if self._lifo else idle.popleft()
            if w.state == WorkerState.READY and w.alive:
                return w
            if w.state == WorkerState.READY:
                self._retire(w, WorkerState.ERRORED, kill=True)
        if self._stopped:
            raise PoolStoppedError()
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Worker] = loop.create_future()
        self._waiters.append(fut)
        # one watchdog timer for the whole FIFO (every waiter has the same timeout, so the
        # head always expires first) instead of a timer per waiter: pollers and requests
        # queue here on every exec when all workers are busy
        self._deadlines.append(loop.time() + self.cfg.allocate_timeout)
        if self._watchdog is None:
            self._watchdog = loop.call_at(self._deadlines[0], self._expire_waiters)
        try:
            w = await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                self._release(fut.result())
            raise
        except NoFreeWorkersError:
            self.log.error("no free workers in the pool, wait timeout exceed",
                           extra={"fields": {"pool": self.name}})
            raise
        # on success _release already popped the future from the waiters
        return w

    def _expire_waiters(self) -> None:
        """Fail the waiters whose allocate_timeout passed; re-arm for the next one."""
        self._watchdog = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        waiters, deadlines = self._waiters, self._deadlines
        while waiters and (waiters[0].done() or deadlines[0] <= now):
            f = waiters.popleft()
            deadlines.popleft()
            if not f.done():
                f.set_exception(NoFreeWorkersError())
        if waiters:
            self._watchdog = loop.call_at(deadlines[0], self._expire_waiters)

    def _release(self, w: Worker) -> None:
        """Hand a ready worker to the oldest waiter, or park it."""
        w.state = WorkerState.READY
        self.workers_set.add(w)
        waiters = self._waiters
        while waiters:
            f = waiters.popleft()
            self._deadlines.popleft()
            if not f.done():
                f.set_result(w)
                return
        w.idle_since = time.monotonic()
        self._idle.append(w)
        self._changed.set()

    def _done(self, w: Worker) -> None:
        """A request finished normally: apply max_jobs / retire marks, then release."""
        w.end()
        if self.cfg.debug:
            self._retire(w, WorkerState.DESTROYED, replace=False)
            return
        if w.max_jobs and w.num_execs >= w.max_jobs:
            self.log.debug("requests execution limit reached",
                           extra={"fields": {"pid": w.pid, "pool": self.name}})
            self._retire(w, WorkerState.MAX_JOBS_REACHED)
            return
        if w.retire or w.state == WorkerState.INVALID or w.stop_signalled:
            self._retire(w, WorkerState.INVALID)
            return
        if self._stopped:
            w.state = WorkerState.READY
            self._changed.set()
            return
        self._release(w)

    # -- retirement and replacement ------------------------------------------------------------
    def _retire(self, w: Worker, state: WorkerState, kill: bool = False,
                replace: bool = True, delay: float = 0.0) -> None:
        """Take a worker out of service, stop it, and (unless stopping) replace it,
        after ``delay`` seconds (the back-off of a slot whose workers fail to start)."""
        if w not in self.workers_set and w.state in (WorkerState.STOPPING,
                                                      WorkerState.STOPPED,
                                                      WorkerState.DESTROYED):
            return
        self.workers_set.discard(w)
        with contextlib.suppress(ValueError):
            self._idle.remove(w)
        w.end()  # out of the idle queue first: stray frames it flushes see a retired worker
        w.state = state
        self._changed.set()
        if (self._scaler is not None and state in (WorkerState.ERRORED,
                                                   WorkerState.EXEC_TTL_REACHED)
                and time.monotonic() - w.created < EARLY_EXIT):
            self._scaler.on_early_death()
        if kill:
            w.kill()
        self._bg(self._stop_worker(w))
        if replace and not self._stopped and not self.cfg.debug:
            self._bg(self._replace(delay))

    async def _stop_worker(self, w: Worker) -> None:
        keep = w.state
        await w.stop(self.cfg.stop_grace)
        if keep != WorkerState.DESTROYED:
            w.state = WorkerState.STOPPED

    async def _replace(self, delay: float = 0.0) -> None:
        """Spawn a replacement for one pool slot. A worker that died after a good
        handshake is replaced at once; only a slot whose spawns fail (a crash loop at
        boot) backs off, doubling up to MAX_BACKOFF, and never the other slots."""
        while not self._stopped:
            if delay:
                await asyncio.sleep(delay)
            if self._stopped or len(self.workers_set) + self._spawning >= self.target:
                return
            try:
                w = await self._spawn()
            except PoolError as e:
                delay = min(MAX_BACKOFF, max(1.0, delay * 2))
                self.log.error("failed to allocate a replacement worker; retrying",
                               extra={"fields": {"pool": self.name, "error": str(e),
                                                 "retry_in": f"{delay:.1f}s"}})
                continue
            if self._stopped:
                w.state = WorkerState.DESTROYED
                await w.stop(self.cfg.stop_grace)
                return
            w.slot_backoff = delay
            self._release(w)
            return

    async def _spawn(self) -> Worker:
        self._spawning += 1
        try:
            w = await spawn(self.command, self.env, self.relay, self.user, self.log,
                            self.cfg.allocate_timeout)
        finally:
            self._spawning -= 1
        w.generation = self._generation
        if self.cfg.max_jobs:
            w.max_jobs = self.cfg.max_jobs + self.cfg.max_jobs * random.randint(0, 14) // 100
        w.state = WorkerState.READY
        w.on_stray = self._on_stray
        self._bg(self._watch_exit(w))
        return w

    async def _watch_exit(self, w: Worker) -> None:
        """A process that exits on its own (not retired by us) is replaced."""
        await asyncio.shield(w.exited)
        if w in self.workers_set:
            self.log.debug("worker stopped", extra={"fields": {"pid": w.pid,
                                                                "pool": self.name}})
            if w.state == WorkerState.WORKING:
                return  # the in-flight request sees the error and retires it
            # exiting on its own right after the start looks like a boot crash loop
            early = time.monotonic() - w.created < EARLY_EXIT and not w.stop_signalled
            delay = min(MAX_BACKOFF, max(0.5, w.slot_backoff * 2)) if early else 0.0
            self._retire(w, WorkerState.ERRORED, delay=delay)

    def _bg(self, coro: Any) -> None:
        t = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    # -- reset / add / remove ----------------------------------------------------------------
    async def reset(self) -> None:
        """Rolling restart: every current worker is replaced; requests keep flowing."""
        if self._stopped:
            raise PoolStoppedError()
        self.log.info("reset signal was received", extra={"fields": {"pool": self.name}})
        self._generation += 1
        old = list(self.workers_set)
        for w in old:
            w.retire = True
        deadline = time.monotonic() + self.cfg.reset_timeout
        for w in old:
            if w in self._idle:
                # out of the idle queue first, so no request takes it while we spawn
                self._idle.remove(w)
                self._retire(w, WorkerState.DESTROYED, replace=False)
                if len(self.workers_set) + self._spawning >= self.target:
                    continue  # a dynamic extra: load brings it back if still needed
                try:
                    new = await self._spawn()
                except PoolError as e:
                    self.log.error("reset: failed to spawn a worker",
                                   extra={"fields": {"error": str(e)}})
                    self._bg(self._replace())
                    raise
                self._release(new)
        while any(w in self.workers_set for w in old):
            if time.monotonic() >= deadline:
                for w in old:
                    if w in self.workers_set:
                        self._retire(w, WorkerState.DESTROYED, kill=True)
                break
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), 0.1)
        # workers that were busy are replaced in the background when their request ends:
        # the reset is done when the pool is whole again (as RoadRunner's, which allocates
        # num_workers fresh workers before it returns)
        while (len(self.workers_set) < self.target and not self._stopped
               and time.monotonic() < deadline):
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), 0.1)
        self.log.info("plugin was successfully reset", extra={"fields": {"pool": self.name}})

    async def add_worker(self) -> None:
        from rr.pool.config import MAX_WORKERS

        if len(self.workers_set) >= MAX_WORKERS:
            raise PoolError("container is full, maximum number of workers reached")
        w = await self._spawn()
        self.target += 1
        self._release(w)
        if self.on_resize is not None:
            self.on_resize(self.capacity)

    async def remove_worker(self) -> None:
        if len(self.workers_set) <= 1:
            self.log.warning("can't remove the last worker", extra={"fields": {"pool":
                                                                              self.name}})
            return
        self.target -= 1
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.cfg.destroy_timeout
        while not self._idle:
            if loop.time() >= deadline:
                raise PoolError("no idle worker to remove")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), 0.1)
        w = self._idle.popleft()
        self._retire(w, WorkerState.DESTROYED, replace=False)

    # -- supervisor ------------------------------------------------------------------------
    async def _supervise(self) -> None:
        from rr.pool.worker import rss_bytes

        sup = self.cfg.supervisor
        assert sup is not None
        while not self._stopped:
            await asyncio.sleep(sup.watch_tick)
            now = time.monotonic()
            for w in list(self.workers_set):
                if w.state not in (WorkerState.READY, WorkerState.WORKING):
                    continue
                idle = w.state == WorkerState.READY and w in self._idle
                reason: WorkerState | None = None
                if sup.ttl and now - w.created >= sup.ttl:
                    reason = WorkerState.TTL_REACHED
                elif sup.max_worker_memory and \
                        rss_bytes(w.pid) >= sup.max_worker_memory * 1024 * 1024:
                    reason = WorkerState.MAX_MEMORY_REACHED
                elif (sup.idle_ttl and idle and w.num_execs > 0
                      and int(now - w.last_used) >= sup.idle_ttl):
                    reason = WorkerState.IDLE_TTL_REACHED
                if reason is None:
                    continue
                fields = {"pid": w.pid, "reason": reason.label, "pool": self.name}
                if reason == WorkerState.MAX_MEMORY_REACHED:
                    # a planned retirement (the app's memory grows as PHP apps' do), not
                    # a fault: operators see it without it reading as an error
                    fields["max_worker_memory_mb"] = sup.max_worker_memory
                    self.log.info("worker reached its memory limit, and will be replaced",
                                  extra={"fields": fields})
                else:
                    self.log.debug("supervisor: worker limit reached",
                                   extra={"fields": fields})
                if idle:
                    self._retire(w, reason)
                else:
                    w.retire = True
                    w.state = WorkerState.INVALID


def _expire(w: Worker, fut: asyncio.Future[Frame]) -> None:
    if not fut.done():
        w.kill()
        fut.set_exception(ExecTTLError())
        w.fail(ExecTTLError())


class _StreamCall:
    """``async with pool.stream(payload) as frames``."""

    __slots__ = ("pool", "payload", "frames")

    def __init__(self, pool: Pool, payload: Payload) -> None:
        self.pool = pool
        self.payload = payload
        self.frames: _Frames | None = None

    async def __aenter__(self) -> _Frames:
        self.frames = await self.pool._start_stream(self.payload)
        return self.frames

    async def __aexit__(self, *exc: object) -> None:
        frames = self.frames
        assert frames is not None
        try:
            if frames.finished and not frames.failed:
                self.pool._done(frames.w)  # the common case: no coroutine needed
            else:
                await frames.finish()
        finally:
            self.pool._queued -= 1


class _Frames:
    """Iterator over the frames of one (possibly streamed) reply."""

    def __init__(self, pool: Pool, w: Worker, first: Payload) -> None:
        self.pool = pool
        self.w = w
        self.first: Payload | None = first
        self.finished = not first.stream
        self.failed = False

    def __aiter__(self) -> _Frames:
        return self

    async def __anext__(self) -> Payload:
        if self.first is not None:
            p, self.first = self.first, None
            return p
        if self.finished:
            raise StopAsyncIteration
        try:
            p = await self.pool._read(self.w)
        except (WorkerError, SoftJobError):
            self.failed = True
            self.finished = True
            raise
        except _StopRequested:
            self.failed = True
            self.finished = True
            raise WorkerError("worker stopped in the middle of a stream") from None
        if not p.stream:
            self.finished = True
        return p

    async def finish(self, stop: bool = False) -> None:
        """Return the worker: done, or send STOP and drain to the final frame first."""
        pool, w = self.pool, self.w
        if self.failed:
            return
        if self.finished and not stop:
            pool._done(w)
            return
        try:
            w.send(STREAM_STOP)
        except WorkerError:
            pool._retire(w, WorkerState.ERRORED, kill=True)
            return
        deadline = asyncio.get_running_loop().time() + pool.cfg.stream_timeout
        try:
            while True:
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    raise TimeoutError
                f = await asyncio.wait_for(w.recv(), left)
                if f.flags & fr.CONTROL and w.pid_acks:
                    w.pid_acks -= 1  # a resync's answer: the stream is still going
                    continue
                if f.byte10 & fr.PING:
                    w.send(PONG)
                if not f.byte10 & fr.STREAM:
                    break
        except TimeoutError:
            pool._retire(w, WorkerState.ERRORED, kill=True)
            return
        except (WorkerError, asyncio.CancelledError):
            pool._retire(w, WorkerState.ERRORED, kill=True)
            return
        pool._done(w)


def decode_json_context(p: Payload) -> Any:
    return json.loads(p.context) if p.context else None
