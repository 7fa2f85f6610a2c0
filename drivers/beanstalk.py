"""The ``beanstalk`` jobs driver: one beanstalkd tube per pipeline (spec/drivers-more.md §2).

Two connections, as in RoadRunner: one ``use``-s the tube for ``put``, one watches it and
reserves. A reserved job belongs to the connection that reserved it (only it may delete,
release, bury or touch the job), so every settlement goes through the reserving connection;
if that connection dies beanstalkd releases the job itself and it is delivered again.

Differences from RoadRunner, on purpose:

* the body is JSON, not Go ``gob`` (see ``encode_job``): sharing a tube with a Go
  RoadRunner is not supported; the headers are in the body (RoadRunner v5 lost them);
* a job's TTR (``timeout``) is kept alive with ``touch`` while it waits in rr and while PHP
  works on it, so a long job is not handed to a second consumer halfway through;
* Nack with requeue ``release``-s the original (with the delay) instead of ``put``-ting a
  copy and leaving the original reserved, which ran the job twice after the TTR;
* a plain Nack (worker error or crash) releases the job for redelivery; RoadRunner deleted
  it, so a crashed worker lost its job;
* Nack without requeue ``bury``-s the job: buried jobs are the dead letters of a tube,
  listed and replayed by ``rr jobs dlq`` (beanstalk_dlq) or kicked by an operator;
* stop releases the jobs this rr reserved but never started, so they are ready at once;
* the resume error says ``beanstalk listener is already in the active state`` (RoadRunner
  said ``sqs``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import uuid
from typing import Any

from rr.drivers.beanstalk_client import (
    Address,
    BeanstalkError,
    Connection,
    Reserved,
    TimedOut,
)
from rr.drivers.beanstalk_dlq import buried_jobs, mark_buried, ready_jobs
from rr.errors import ConfigError, RRError, describe
from rr.pipeline.driver import (
    Driver,
    PipelineOptions,
    PipelineState,
    Sink,
    join_tasks,
)
from rr.pipeline.job import Headers, Job, headers_from_json
from rr.pipeline.settle import STOPPED, ConsumeLoops, SettleOnce

log = logging.getLogger("rr.jobs.beanstalk")

DRIVER = "beanstalk"
DEDUCED = "deduced_by_rr"
NO_GLOBAL = ("no global beanstalk configuration, global configuration should contain "
             "beanstalk addrs and timeout")
PUSH_RETRY_FOR = 60.0
NETWORK_ERRORS: tuple[type[BaseException], ...] = (ConnectionError, OSError, TimeoutError)
#: what the consume loop and state survive (retried, reported as not connected)
RECOVERABLE: tuple[type[BaseException], ...] = (*NETWORK_ERRORS, BeanstalkError)


def encode_job(job: Job, pipeline: str) -> bytes:
    """Job -> the tube body: a JSON object ``{"job","id","payload" (base64), "headers",
    "options": {"priority","pipeline","delay","auto_ack"}}``."""
    return json.dumps({
        "job": job.name, "id": job.id, "payload": base64.b64encode(job.payload).decode(),
        "headers": job.headers or {},
        "options": {"priority": job.priority, "pipeline": job.pipeline or pipeline,
                    "delay": job.delay, "auto_ack": job.auto_ack}},
        separators=(",", ":")).encode()


def decode_job(body: bytes, pipeline: str, pipeline_priority: int) -> Job:
    """Tube body -> Job; anything but rr's JSON runs as ``deduced_by_rr`` (spec §2.3)."""
    try:
        raw = json.loads(body)
        if not isinstance(raw, dict) or "job" not in raw:
            raise ValueError("not an rr job")
        found = raw.get("options")
        opts: dict[str, Any] = found if isinstance(found, dict) else {}
        payload = base64.b64decode(str(raw.get("payload") or ""), validate=True)
    except ValueError:
        return Job(id=str(uuid.uuid4()), name=DEDUCED, payload=body, pipeline=pipeline,
                   priority=pipeline_priority)
    priority = opts.get("priority")
    return Job(id=str(raw.get("id") or uuid.uuid4()), name=str(raw["job"]), payload=payload,
               headers=headers_from_json(raw.get("headers")),
               pipeline=str(opts.get("pipeline") or pipeline),
               priority=priority if isinstance(priority, int) and priority
               else pipeline_priority,
               delay=int(opts.get("delay") or 0), auto_ack=opts.get("auto_ack") is True)


class BeanstalkDelivery(SettleOnce):
    def __init__(self, driver: BeanstalkDriver, reserved: Reserved, job: Job,
                 conn: Connection) -> None:
        self.driver: BeanstalkDriver = driver
        self.bs_id = reserved.id
        self.job = job
        self.conn = conn   # the connection that reserved it (None of ours may settle it)

    def context(self) -> bytes:
        return self.job.context_bytes(DRIVER, queue=self.driver.tube)

    def _take(self) -> bool:
        """Settle once, on the reserving connection while it lives (when it died,
        beanstalkd released the job already)."""
        return self._claim() and self.conn.open

    async def ack(self) -> None:
        if self._take():
            await self.driver.settle(self.conn.delete(self.bs_id))

    async def nack(self, requeue: bool | None = None, delay: int = 0) -> None:
        if not self._take():
            return
        if requeue is False:
            await self.driver.settle(self.conn.bury(self.bs_id, self.driver.tube_priority))
        else:
            await self.driver.settle(self.conn.release(
                self.bs_id, self.driver.tube_priority, max(0, int(delay)) if requeue else 0))

    async def requeue(self, headers: Headers | None, delay: int) -> None:
        if self.driver.stopped:
            raise RRError(STOPPED)
        if self.settled:
            return
        clone = self.job.requeued(self.job.merged_headers(headers), delay)
        # the copy first, then the delete: a crash in between duplicates, never loses
        await self.driver.put(clone)
        await self.ack()


class BeanstalkDriver(ConsumeLoops, Driver):
    kind = DRIVER

    def __init__(self, options: PipelineOptions, sink: Sink) -> None:
        super().__init__(options, sink)
        o, g = options, options.global_section
        if not g.to_dict():
            raise ConfigError(NO_GLOBAL)
        self.address = Address.parse(g.string("addr", "tcp://127.0.0.1:11300")
                                     or "tcp://127.0.0.1:11300")
        self.timeout = g.duration("timeout", 30.0) or 30.0
        self.ttr = max(1, int(self.timeout))
        self.priority = o.integer("priority", options.priority or 10)
        self.tube = o.string("tube", "default") or "default"
        self.tube_priority = max(0, o.integer("tube_priority", 1 if o.declared else 0))
        if o.declared:
            self.reserve_timeout = max(0, o.integer("reserve_timeout", 5))
        else:
            # a bare integer is nanoseconds in RoadRunner (0 s: a busy loop); at least 1 s
            self.reserve_timeout = max(1, int(o.duration("reserve_timeout", 1.0)))
        self.prefetch = max(1, o.integer("prefetch", 10))
        self._producer = Connection(self.address, self.timeout)
        self._consumer = Connection(self.address, self.timeout)
        self._producer_lock = asyncio.Lock()
        self._inflight: dict[int, BeanstalkDelivery] = {}
        self._offer = getattr(sink, "offer", None)
        self._slots = asyncio.Event()
        self._consuming = False
        self._consumed = False    # ever consumed: its ready jobs are work, not dead letters
        self._stopped = False
        self._connected = True
        self._last_error = ""
        self._tasks: list[asyncio.Task[None]] = []

    def _down(self, what: str, exc: BaseException) -> None:
        self._connected, self._last_error = False, f"{what}: {describe(exc)}"

    def _up(self) -> None:
        if not self._connected:
            log.info("beanstalk pipeline %s: connection restored", self.pipeline)
        self._connected, self._last_error = True, ""

    # -- producing ------------------------------------------------------------------------
    async def put(self, job: Job) -> None:
        async with self._producer_lock:
            if not self._producer.open:
                await self._producer.connect()
                await self._producer.use(self.tube)
        await self._producer.put(encode_job(job, self.pipeline), self.tube_priority,
                                 max(0, int(job.delay)), self.ttr)

    async def push(self, job: Job) -> None:
        """Put; while beanstalkd is unreachable keep redialing (bounded by jobs.timeout
        in the core, as RoadRunner's redial-and-retry)."""
        self._check_open()
        deadline = asyncio.get_running_loop().time() + PUSH_RETRY_FOR
        pause = 0.1
        while True:
            try:
                await self.put(job)
                self._up()
                return
            except BeanstalkError as e:
                raise RRError(f"beanstalk pipeline {self.pipeline}: push failed: {e}") from e
            except NETWORK_ERRORS as e:
                self._down("push", e)
                if asyncio.get_running_loop().time() + pause > deadline:
                    raise RRError(f"beanstalk pipeline {self.pipeline}: push failed: "
                                  f"{describe(e)}") from e
                await asyncio.sleep(pause)
                pause = min(2.0, pause * 2)
                self._check_open()

    # -- settling -------------------------------------------------------------------------
    async def settle(self, op: Any) -> None:
        """Run one settlement; a dead connection means beanstalkd released the job
        already (it comes again: at-least-once), so that is logged, not raised."""
        try:
            await op
        except NETWORK_ERRORS as e:
            self._down("settle", e)
            log.warning("beanstalk pipeline %s: settle failed (%s); the job is released "
                        "by beanstalkd and runs again", self.pipeline, describe(e))

    def release(self, delivery: BeanstalkDelivery) -> None:
        delivery.settled = True
        if self._inflight.get(delivery.bs_id) is delivery:
            del self._inflight[delivery.bs_id]
        self._slots.set()

    # -- consuming ------------------------------------------------------------------------
    async def run(self) -> None:
        self._check_open()
        if self._consuming:
            raise RRError(f"{DRIVER} listener is already in the active state")
        await join_tasks(self._tasks)
        self._consuming = self._consumed = True
        self._tasks = [asyncio.create_task(self._consume_loop(), name=f"bs-{self.pipeline}"),
                       asyncio.create_task(self._keeper_loop(), name=f"bs-ttr-{self.pipeline}")]

    async def resume(self) -> None:
        await self.run()

    async def pause(self) -> None:
        await self._pause_loops(timeout=self.reserve_timeout + 3.0)

    async def _dial_consumer(self) -> None:
        if self._consumer.open:
            return
        # a new connection: whatever the old one reserved is released by beanstalkd
        self._inflight.clear()
        await self._consumer.connect()
        await self._consumer.watch(self.tube)
        if self.tube != "default":
            await self._consumer.ignore("default")

    async def _consume_loop(self) -> None:
        pause = 0.1
        while self._consuming:
            if len(self._inflight) >= self.prefetch:
                self._slots.clear()
                await self._slots.wait()
                continue
            # while jobs are in flight, poll without blocking so that their settlements
            # (which need this connection) never wait behind a long reserve
            busy = bool(self._inflight)
            try:
                await self._dial_consumer()
                conn = self._consumer
                reserved = await conn.reserve(0 if busy else self.reserve_timeout)
                self._up()
                pause = 0.1
            except TimedOut:
                if busy:
                    self._slots.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._slots.wait(), 0.05)
                continue
            except RECOVERABLE as e:
                self._down("consume", e)
                log.warning("beanstalk pipeline %s: consume failed (%s); retrying",
                            self.pipeline, describe(e))
                await asyncio.sleep(pause)
                pause = min(5.0, pause * 2)
                continue
            if not self._consuming:
                await self.settle(conn.release(reserved.id, self.tube_priority, 0))
                break
            job = decode_job(reserved.body, self.pipeline, self.priority)
            delivery = BeanstalkDelivery(self, reserved, job, conn)
            if job.auto_ack:
                await self.settle(conn.delete(reserved.id))
                delivery.auto_acked = True
            else:
                self._inflight[reserved.id] = delivery
            if self._offer is None or not self._offer(delivery):
                await self.sink(delivery)

    async def _keeper_loop(self) -> None:
        """``touch`` every job in flight before its TTR runs out."""
        interval = max(0.3, self.ttr / 3)
        while not self._stopped and (self._consuming or self._inflight):
            await asyncio.sleep(interval)
            for d in list(self._inflight.values()):
                if not d.settled and d.conn.open:
                    await self.settle(d.conn.touch(d.bs_id))

    # -- lifecycle ------------------------------------------------------------------------
    async def stop(self) -> None:
        if self._stopped:
            return
        self._consuming = False
        self._slots.set()
        await join_tasks(self._tasks, timeout=self.reserve_timeout + 3.0)
        self._stopped = True
        for d in list(self._inflight.values()):
            if not d.settled and d.conn.open:
                await self.settle(d.conn.release(d.bs_id, self.tube_priority, 0))
            d.settled = True
        self._inflight.clear()
        await self._consumer.close()
        await self._producer.close()

    # -- dead letters (rr jobs dlq) -------------------------------------------------------
    async def dead_letters(self, limit: int | None, offset: int) -> list[tuple[Job, int]]:
        """The tube's buried jobs, then - unless this pipeline consumed - its ready jobs,
        read on a connection of its own (beanstalk_dlq). Reference = the job id."""
        conn = Connection(self.address, self.timeout)
        try:
            await conn.connect()
            await conn.use(self.tube)
            await conn.watch(self.tube)
            if self.tube != "default":
                await conn.ignore("default")
            buried = await buried_jobs(conn, self.tube)
            ready: list[Reserved] = []
            if not self._consumed:
                want = None if limit is None else max(0, offset + limit - len(buried))
                ready = await ready_jobs(conn, want, self.tube_priority)
        except RECOVERABLE as e:
            raise RRError(f"beanstalk pipeline {self.pipeline}: {describe(e)}") from e
        finally:
            await conn.close()   # anything still reserved is released by beanstalkd
        found = [(mark_buried(self._decode(r), self.pipeline), r.id) for r in buried]
        found += [(self._decode(r), r.id) for r in ready]
        found = found[offset:]
        return found if limit is None else found[:limit]

    def _decode(self, r: Reserved) -> Job:
        return decode_job(r.body, self.pipeline, self.priority)

    async def forget(self, ref: int) -> None:
        conn = Connection(self.address, self.timeout)
        try:
            await conn.connect()
            await conn.delete(int(ref))
        finally:
            await conn.close()

    async def state(self) -> PipelineState:
        """Counts of this tube (``stats-tube``; RoadRunner reported server-wide ``stats``)."""
        st = PipelineState(pipeline=self.pipeline, driver=DRIVER, queue=self.tube,
                           ready=self._consuming, priority=self.priority,
                           connected=self._connected and not self._stopped,
                           error=self._last_error)
        if self._stopped:
            return st
        conn = Connection(self.address, 5.0)
        try:
            await conn.connect()
            stats = await conn.stats_tube(self.tube)
        except RECOVERABLE as e:
            st.connected, st.error = False, f"state: {describe(e)}"
            return st
        finally:
            await conn.close()
        st.active = int(stats.get("current-jobs-ready", 0))
        st.reserved = int(stats.get("current-jobs-reserved", 0))
        st.delayed = int(stats.get("current-jobs-delayed", 0))
        return st
