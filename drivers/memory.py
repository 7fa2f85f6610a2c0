"""The in-process ``memory`` driver (spec/drivers.md §1).

Jobs live in a per-pipeline FIFO buffer; delayed jobs wait in a heap served by one timer,
so there is no cap on delayed jobs (RoadRunner allows 1000 per pipeline). While consuming,
at most ``prefetch`` jobs of the pipeline are in the shared queue or in workers.

On a graceful stop the jobs plugin keeps the pipeline running until ``backlog`` is 0 or
the grace period ends; what is left then is reported in one line, or, with the ``spool``
option (drivers/memory_spool.py), written to a file that the next start loads.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections import deque
from pathlib import Path
from typing import Any

from rr.drivers import memory_spool
from rr.errors import RRError
from rr.pipeline.driver import Delivery, Driver, PipelineOptions, PipelineState, Sink
from rr.pipeline.job import Headers, Job

BUFFER_CAPACITY = 100_000
DEFAULT_PREFETCH = 100_000
STOPPED = "failed to acknowledge the JOB, the pipeline is probably stopped"
ATTEMPT_HEADER = "rr-attempt"

log = logging.getLogger("jobs")


class MemoryDelivery(Delivery):
    __slots__ = ("job", "_driver", "_had_delay", "_settled")

    def __init__(self, driver: MemoryDriver, job: Job, had_delay: bool) -> None:
        self.job = job
        self._driver = driver
        self._had_delay = had_delay
        self._settled = False

    def context(self) -> bytes:
        j = self.job
        # RoadRunner sends no "queue" for memory; the spec notes it is harmless and older
        # 4.x SDKs required it, so we send the pipeline name.
        return j.context_bytes("memory", queue=j.pipeline)

    def _settle(self) -> bool:
        """Counters go down even after stop (as RoadRunner); True if the driver is live."""
        if self._settled:
            return not self._driver.stopped
        self._settled = True
        self._driver._finished(self._had_delay)
        return not self._driver.stopped

    async def ack(self) -> None:
        if not self._settle():
            raise RRError(STOPPED)

    async def nack(self, requeue: bool | None = None, delay: int = 0) -> None:
        if not self._settle():
            raise RRError(STOPPED)
        if requeue is None:
            # Plain Nack (worker error, crash, exec_ttl): RoadRunner drops memory jobs here.
            # We return the job to its pipeline instead, counting the attempt, so a dying
            # worker never loses a job.
            job = self.job
            job.headers = job.merged_headers(
                {ATTEMPT_HEADER: [str(_attempt(job.headers) + 1)]})
            job.delay = 0
            self._driver._enqueue(job)
        elif requeue:
            self.job.delay = max(0, delay)
            self._driver._enqueue(self.job)

    async def requeue(self, headers: Headers | None, delay: int) -> None:
        if not self._settle():
            raise RRError(STOPPED)
        job = self.job
        job.headers = job.merged_headers(headers)
        job.delay = max(0, delay)
        self._driver._enqueue(job)

    async def release(self) -> None:
        """Back to the head of the buffer: it was never started."""
        if self._settled:
            return
        self._settled = True
        self._driver._finished(self._had_delay)
        self._driver._buffer.appendleft(self.job)


def _attempt(headers: Headers) -> int:
    try:
        return max(1, int(headers.get(ATTEMPT_HEADER, ["1"])[0]))
    except (ValueError, IndexError):
        return 1


class MemoryDriver(Driver):
    kind = "memory"

    def __init__(self, options: PipelineOptions, sink: Sink) -> None:
        super().__init__(options, sink)
        self.prefetch = options.integer("prefetch", 0)
        if self.prefetch <= 0:
            self.prefetch = DEFAULT_PREFETCH
        self.priority = options.priority
        self.timeout = getattr(options, "timeout", 60.0)
        self._buffer: deque[Job] = deque()
        self._space: asyncio.Event | None = None
        self._delayed: list[tuple[float, int, Job]] = []
        self._seq = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self.in_flight = 0
        self.delayed = 0
        self.consuming = False
        self.stopped = False
        self._pumping = False
        self._offer = getattr(sink, "offer", None)
        spool = options.string("spool")
        if spool and options.declared:
            # the file is written with rr's rights: only the config's author may name it
            raise RRError(f"pipeline {self.pipeline}: the spool option is only accepted "
                          "in the config file, not in jobs.Declare")
        self.spool = Path(spool) if spool else None
        if self.spool is not None:
            self._restore(self.spool)

    def _restore(self, path: Path) -> None:
        jobs = memory_spool.load(path, self.pipeline)
        for job in jobs:
            if job.delay > 0:
                self.delayed += 1
                self._schedule(job)
            else:
                self._buffer.append(job)
        if jobs:
            log.info("memory pipeline %s: %d jobs loaded from the spool file %s",
                     self.pipeline, len(jobs), path)

    # -- producer side -----------------------------------------------------------------
    async def push(self, job: Job) -> None:
        if self.stopped:
            raise RRError(f"pipeline {self.pipeline} is stopped")
        if job.delay > 0:
            self.delayed += 1
            self._schedule(job)
            return
        while len(self._buffer) >= BUFFER_CAPACITY:
            if self._space is None:
                self._space = asyncio.Event()
            try:
                async with asyncio.timeout(self.timeout):
                    await self._space.wait()
            except TimeoutError:
                raise RRError(
                    "local pipeline is full, consider to increase prefetch number, current "
                    f"limit: {self.prefetch}, context error: context deadline exceeded"
                ) from None
        self._buffer.append(job)
        self._kick()

    def push_nowait(self, job: Job) -> bool:
        """Push without waiting when the buffer has room; False = use ``push``."""
        if self.stopped or len(self._buffer) >= BUFFER_CAPACITY:
            return False
        if job.delay > 0:
            self.delayed += 1
            self._schedule(job)
            return True
        self._buffer.append(job)
        self._kick()
        return True

    def _enqueue(self, job: Job) -> None:
        """Re-push from a settle (nack/requeue): never blocks, never fails."""
        if self.stopped:
            log.warning("job lost (memory pipeline stopped): pipeline=%s id=%s",
                        self.pipeline, job.id)
            return
        if job.delay > 0:
            self.delayed += 1
            self._schedule(job)
        else:
            self._buffer.append(job)
            self._kick()

    def _schedule(self, job: Job) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + job.delay
        heapq.heappush(self._delayed, (due, next(self._seq), job))
        if self._timer is None or due < self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
            self._timer_at = due
            self._timer = loop.call_at(due, self._release_due)

    def _release_due(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        while self._delayed and self._delayed[0][0] <= now:
            job = heapq.heappop(self._delayed)[2]
            # Marks the job so its settle decrements the delayed counter (RoadRunner counts
            # a delayed job until it is acked, not until its delay elapses).
            job.delay = -1 if job.delay > 0 else job.delay
            # RoadRunner drops a due job when the buffer is full; we keep it.
            self._buffer.append(job)
        if self._delayed:
            self._timer_at = self._delayed[0][0]
            self._timer = loop.call_at(self._timer_at, self._release_due)
        self._kick()

    # -- consumer side -----------------------------------------------------------------
    def _kick(self) -> None:
        """Move jobs from the buffer to the shared queue while prefetch allows."""
        if self._pumping or not self.consuming:
            return
        offer = self._offer
        buf = self._buffer
        while self.consuming and buf and self.in_flight < self.prefetch:
            job = buf.popleft()
            if job.priority == 0:
                job.priority = self.priority
            d = MemoryDelivery(self, job, job.delay != 0)
            job.delay = 0
            self.in_flight += 1
            if offer is None or not offer(d):
                self._pumping = True
                asyncio.get_running_loop().create_task(self._pump(d))
                break
        self._wake_space()

    async def _pump(self, first: MemoryDelivery) -> None:
        try:
            await self.sink(first)
            while self.consuming and self._buffer and self.in_flight < self.prefetch:
                job = self._buffer.popleft()
                if job.priority == 0:
                    job.priority = self.priority
                d = MemoryDelivery(self, job, job.delay != 0)
                job.delay = 0
                self.in_flight += 1
                self._wake_space()
                await self.sink(d)
        except Exception as e:  # noqa: BLE001 - the queue closed at shutdown
            log.debug("memory pipeline %s: listener stopped: %s", self.pipeline, e)
        finally:
            self._pumping = False
        if not self.stopped:
            self._kick()

    def _wake_space(self) -> None:
        if self._space is not None and len(self._buffer) < BUFFER_CAPACITY:
            self._space.set()
            self._space = None

    def _finished(self, had_delay: bool) -> None:
        self.in_flight -= 1
        if had_delay:
            self.delayed -= 1
        if not self.stopped:
            self._kick()

    # -- lifecycle -----------------------------------------------------------------------
    async def run(self) -> None:
        if self.consuming:
            raise RRError("memory listener is already in the active state")
        self.consuming = True
        self._kick()

    async def resume(self) -> None:
        await self.run()

    async def pause(self) -> None:
        if not self.consuming:
            raise RRError("no active listeners, nothing to pause")
        self.consuming = False

    def backlog(self, before: float) -> int:
        """Jobs a graceful stop waits for: buffered, in the shared queue or a worker, and
        delayed ones due before ``before``. A spooled pipeline waits for none: its
        unstarted jobs survive the restart in the file."""
        if self.spool is not None:
            return 0
        due = sum(1 for at, _, _ in self._delayed if at <= before)
        return len(self._buffer) + self.in_flight + due

    async def stop(self) -> None:
        """Jobs still buffered or delayed cannot outlive the process: they are written to
        the spool file, or else reported in one line (count and ids)."""
        self.consuming = False
        self.stopped = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        now = asyncio.get_running_loop().time()
        left = [(job, 0) for job in self._buffer] + \
            [(job, max(1, round(at - now))) for at, _, job in sorted(self._delayed)]
        self._buffer.clear()
        self._delayed.clear()
        if self._space is not None:
            self._space.set()
        if self.spool is not None:
            try:
                n = memory_spool.save(self.spool, left)
            except OSError as e:
                log.error("memory pipeline %s: writing the spool file %s failed: %s",
                          self.pipeline, self.spool, e)
            else:
                if n:
                    log.info("memory pipeline %s: %d jobs written to the spool file %s",
                             self.pipeline, n, self.spool)
                return
        if left:
            log.warning("jobs lost (memory pipeline stopped): pipeline=%s count=%d ids=%s",
                        self.pipeline, len(left), ",".join(job.id for job, _ in left))

    async def destroy(self) -> None:
        """A destroyed pipeline's jobs are dropped (and reported), never spooled."""
        spool, self.spool = self.spool, None
        await self.stop()
        if spool is not None:
            spool.unlink(missing_ok=True)

    async def state(self) -> PipelineState:
        return PipelineState(pipeline=self.pipeline, driver="memory", queue=self.pipeline,
                             active=self.in_flight, delayed=self.delayed, reserved=0,
                             ready=self.consuming, priority=self.priority)

    @property
    def buffered(self) -> int:
        """Jobs waiting in this pipeline, not yet handed to the shared queue."""
        return len(self._buffer) + len(self._delayed)

    # -- dead-letter browsing (optional capability used by jobs.dlq_*) ---------------------
    def browse(self) -> list[Job]:
        return list(self._buffer) + [e[2] for e in sorted(self._delayed)]

    def take_all(self) -> list[Job]:
        jobs = self.browse()
        self._buffer.clear()
        self.delayed -= len(self._delayed)
        self._delayed.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        return jobs

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"<MemoryDriver {self.pipeline} buffered={len(self._buffer)}>"


__all__: list[Any] = ["MemoryDriver", "MemoryDelivery"]
