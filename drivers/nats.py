"""The ``nats`` jobs driver: one JetStream stream per pipeline, read by a durable pull consumer.

Wire format and keys follow RoadRunner's nats driver (spec/drivers-more.md §1), with the
flaws the spec records fixed on purpose:

* the consumer is **durable** (named after the pipeline, option ``consumer``), so a restart
  or a resume continues where the last one stopped; RoadRunner made a fresh ephemeral
  consumer on every start, so every start redelivered the whole stream;
* stop does **not** purge the stream: RoadRunner purged it, which dropped every job not yet
  consumed on each shutdown. Jobs a stopping rr had fetched but not started are ``nak``-ed
  back, so they are redelivered at once instead of after ``ack_wait``;
* a requeued copy keeps its (merged) headers; RoadRunner v5 published it without them;
* ``ack_wait`` is applied to the consumer and kept alive with ``+WPI`` (in progress) while
  a worker runs a job, so a long job is not redelivered to another consumer;
* ``delay`` works: RoadRunner refused a delayed push. The due time travels in the
  ``Rr-Not-Before`` header (Unix ms); a message that arrives early is ``nak``-ed with the
  remaining delay, so it stays on the broker (durable) and never reaches a worker early.

Job headers travel in the JSON body (``headers`` key): NATS headers in nats-py hold one
value per key, and job headers are multi-valued. Messages from foreign producers still run:
their NATS headers become job headers.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import re
import time
import uuid
from typing import Any

import nats
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import Error as NATSError
from nats.errors import TimeoutError as NATSTimeoutError
from nats.js import api
from nats.js.errors import NotFoundError

from rr.drivers.nats_acks import AckBatcher
from rr.drivers.nats_fetch import Fetcher
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

log = logging.getLogger("rr.jobs.nats")

DRIVER = "nats"
DEDUCED = "deduced_by_rr"
NOT_BEFORE = "Rr-Not-Before"
NO_GLOBAL = ("no global nats configuration, global configuration should contain NATS URL")
#: how long one push keeps retrying while NATS is unreachable (jobs.timeout's default)
PUSH_RETRY_FOR = 60.0
NETWORK_ERRORS: tuple[type[BaseException], ...] = (NATSError, OSError, asyncio.TimeoutError)
#: what a consume or state call survives (retried, reported as not connected)
RECOVERABLE: tuple[type[BaseException], ...] = (*NETWORK_ERRORS, RRError)


def encode_job(job: Job, pipeline: str) -> bytes:
    """Job -> RoadRunner's JSON body (key order of spec §1.3) plus a ``headers`` key."""
    options: dict[str, Any] = {"priority": job.priority}
    if job.pipeline or pipeline:
        options["pipeline"] = job.pipeline or pipeline
    if job.delay:
        options["delay"] = job.delay
    options["auto_ack"] = job.auto_ack
    options["Queue"] = ""
    body = {"job": job.name, "id": job.id,
            "payload": base64.b64encode(job.payload).decode(), "options": options,
            "headers": job.headers or {}}
    return json.dumps(body, separators=(",", ":")).encode()


def decode_message(data: bytes, nats_headers: dict[str, str] | None, subject: str,
                   pipeline: str, pipeline_priority: int) -> Job:
    """A message -> Job (spec §1.4: keys case-insensitive, invalid JSON is deduced)."""
    try:
        raw = json.loads(data)
    except ValueError:
        raw = None
    if not isinstance(raw, dict):
        return Job(id=str(uuid.uuid4()), name=DEDUCED, payload=data,
                   headers={"x-nats-subject": [subject]}, pipeline=pipeline,
                   priority=pipeline_priority)
    body = {str(k).lower(): v for k, v in raw.items()}
    # the reference crashes on valid JSON without options: read it as the defaults
    opts = body.get("options")
    options = {str(k).lower(): v for k, v in opts.items()} if isinstance(opts, dict) else {}
    headers: Headers = {}
    for key, value in (nats_headers or {}).items():
        if not key.startswith("Nats-") and key != NOT_BEFORE:
            headers[key] = [value]
    headers_from_json(body.get("headers"), headers)
    headers["x-nats-subject"] = [subject]
    payload: bytes = b""
    if isinstance(body.get("payload"), str):
        try:
            payload = base64.b64decode(body["payload"], validate=True)
        except ValueError:
            payload = body["payload"].encode()
    priority = options.get("priority")
    return Job(id=str(body.get("id") or uuid.uuid4()), name=str(body.get("job") or DEDUCED),
               payload=payload, headers=headers,
               pipeline=str(options.get("pipeline") or pipeline),
               priority=int(priority) if isinstance(priority, int) and priority else
               pipeline_priority,
               delay=int(options.get("delay") or 0),
               auto_ack=options.get("auto_ack") is True)


def durable_name(text: str) -> str:
    """A consumer name NATS accepts (no whitespace, dots, ``*``, ``>``, path separators)."""
    return re.sub(r"[\s.*>/\\]", "_", text) or "rr"


class NATSDelivery(SettleOnce):
    def __init__(self, driver: NATSDriver, msg: Msg, job: Job, seq: int) -> None:
        self.driver: NATSDriver = driver
        self.msg = msg
        self.job = job
        self.seq = seq   # stream sequence (parsing msg.metadata again costs per job)

    def context(self) -> bytes:
        return self.job.context_bytes(DRIVER, queue=self.driver.stream)

    async def ack(self) -> None:
        if self._claim():
            await self.driver.ack_msg(self.msg, self.seq)

    async def nack(self, requeue: bool | None = None, delay: int = 0) -> None:
        if not self._claim():
            return
        if requeue is False:
            await self.msg.term()
        elif requeue and delay > 0:
            await self.msg.nak(delay=float(delay))
        else:
            await self.msg.nak()

    async def requeue(self, headers: Headers | None, delay: int) -> None:
        if self.driver.stopped:
            raise RRError(STOPPED)
        if self.settled:
            return
        merged = self.job.merged_headers(headers)
        merged.pop("x-nats-subject", None)   # set again from the subject on delivery
        clone = self.job.requeued(merged, delay)
        # the copy first, then the ack: a crash in between duplicates, never loses
        await self.driver.publish(clone)
        if self._claim():
            await self.driver.ack_msg(self.msg, self.seq)


class NATSDriver(ConsumeLoops, Driver):
    kind = DRIVER

    def __init__(self, options: PipelineOptions, sink: Sink) -> None:
        super().__init__(options, sink)
        o = options
        g = o.global_section
        if not g.to_dict():
            raise ConfigError(NO_GLOBAL)
        self.addr = g.string("addr", "nats://127.0.0.1:4222") or "nats://127.0.0.1:4222"
        self.priority = o.integer("priority", options.priority or 10)
        self.subject = o.string("subject", "default") or "default"
        self.stream = o.string("stream", "default-stream") or "default-stream"
        self.prefetch = max(1, o.integer("prefetch", 100 if o.declared else 10))
        self._refill_at = max(1, self.prefetch // 2)
        self.delete_after_ack = o.boolean("delete_after_ack", False)
        self.delete_stream_on_stop = o.boolean("delete_stream_on_stop", False)
        self.deliver_new = o.boolean("deliver_new", False)
        if o.declared and o.has("ack_wait"):
            self.ack_wait = float(o.integer("ack_wait", 30))
        else:
            self.ack_wait = o.duration("ack_wait", 30.0) or 30.0
        self.consumer = durable_name(o.string("consumer") or f"rr-{o.name}")
        self._nc: NATS | None = None
        self._js: Any = None
        self._sub: Any = None
        self._fetcher: Fetcher | None = None
        self._acks = AckBatcher(self.pipeline, NETWORK_ERRORS)
        self._inflight: dict[int, NATSDelivery] = {}
        self._offer = getattr(sink, "offer", None)
        self._slots = asyncio.Event()
        self._slots.set()
        self._consuming = False
        self._stopped = False
        self._connected = False
        self._last_error = ""
        self._stream_ready = False
        self._tasks: list[asyncio.Task[None]] = []
        self._connect_lock = asyncio.Lock()

    # -- connection -----------------------------------------------------------------------
    async def _disconnected(self) -> None:
        self._connected = False
        self._last_error = "disconnected from NATS"
        log.warning("nats pipeline %s: disconnected from %s", self.pipeline, self.addr)

    async def _reconnected(self) -> None:
        self._connected = True
        self._last_error = ""
        log.info("nats pipeline %s: reconnected to %s", self.pipeline, self.addr)

    async def _error(self, exc: Exception) -> None:
        log.debug("nats pipeline %s: %s", self.pipeline, describe(exc))

    async def _client(self) -> Any:
        """The JetStream context, connecting (and declaring the stream) on first use."""
        if self._js is not None and self._stream_ready:
            return self._js
        async with self._connect_lock:
            if self._nc is None:
                self._nc = await nats.connect(
                    servers=[self.addr], no_echo=True, connect_timeout=5,
                    allow_reconnect=True, max_reconnect_attempts=-1, reconnect_time_wait=1,
                    ping_interval=10, max_outstanding_pings=2,
                    pending_size=20 * 1024 * 1024,
                    disconnected_cb=self._disconnected, reconnected_cb=self._reconnected,
                    error_cb=self._error)
                self._js = self._nc.jetstream()
                self._connected = True
            if not self._stream_ready:
                await self._declare_stream()
        return self._js

    async def _declare_stream(self) -> None:
        """Create the stream, or add our subject to an existing one (RoadRunner replaced
        the subject list, which cut off the other pipelines sharing the stream)."""
        js = self._js
        try:
            info = await js.stream_info(self.stream)
        except NotFoundError:
            await js.add_stream(name=self.stream, subjects=[self.subject])
        else:
            subjects = list(info.config.subjects or [])
            if self.subject not in subjects:
                info.config.subjects = [*subjects, self.subject]
                await js.update_stream(config=info.config)
        self._stream_ready = True

    # -- producing ------------------------------------------------------------------------
    async def publish(self, job: Job, msg_id: str | None = None) -> None:
        headers = {"Nats-Msg-Id": msg_id or uuid.uuid4().hex}
        if job.delay > 0:
            headers[NOT_BEFORE] = str(int(time.time() * 1000) + job.delay * 1000)
        js = await self._client()
        await js.publish(self.subject, encode_job(job, self.pipeline), stream=self.stream,
                         headers=headers, timeout=5)

    async def push(self, job: Job) -> None:
        """Publish and wait for the stream's ack; while NATS is unreachable keep retrying
        under the same ``Nats-Msg-Id``, so a retry of an ack lost on the way is
        de-duplicated by the stream instead of stored twice."""
        self._check_open()
        msg_id = uuid.uuid4().hex
        deadline = asyncio.get_running_loop().time() + PUSH_RETRY_FOR
        pause = 0.1
        while True:
            try:
                await self.publish(job, msg_id)
                return
            except nats.errors.MaxPayloadError as e:
                raise RRError(f"nats pipeline {self.pipeline}: push failed: the job is "
                              f"larger than the server's max_payload ({e})") from e
            except NETWORK_ERRORS as e:
                if asyncio.get_running_loop().time() + pause > deadline:
                    raise RRError(f"nats pipeline {self.pipeline}: push failed: "
                                  f"{describe(e)}") from e
                log.warning("nats pipeline %s: push failed (%s); retrying", self.pipeline,
                            describe(e))
                await asyncio.sleep(pause)
                pause = min(2.0, pause * 2)
                self._check_open()

    # -- settling -------------------------------------------------------------------------
    async def ack_msg(self, msg: Msg, seq: int) -> None:
        if not self.delete_after_ack:
            self._acks.ack(msg)   # batched with its neighbours (nats_acks)
            return
        await msg.ack()
        if self._js is not None:
            with contextlib.suppress(*NETWORK_ERRORS, NotFoundError):
                await self._js.delete_msg(self.stream, seq)

    def release(self, delivery: NATSDelivery) -> None:
        delivery.settled = True
        if self._inflight.get(delivery.seq) is delivery:
            del self._inflight[delivery.seq]
        self._slots.set()

    # -- consuming ------------------------------------------------------------------------
    async def run(self) -> None:
        self._check_open()
        if self._consuming:
            raise RRError(f"{DRIVER} listener is already in the active state")
        await join_tasks(self._tasks)
        self._consuming = True
        self._tasks = [asyncio.create_task(self._consume_loop(), name=f"nats-{self.pipeline}"),
                       asyncio.create_task(self._keeper_loop(),
                                           name=f"nats-keeper-{self.pipeline}")]

    async def resume(self) -> None:
        await self.run()

    async def pause(self) -> None:
        await self._pause_loops(timeout=3.0)
        await self._return_leftovers()

    async def _return_leftovers(self) -> None:
        """Messages received for a pull request but never handed out go back at once
        (``nak``), not after ack_wait."""
        for msg in self._fetcher.leftovers() if self._fetcher is not None else []:
            with contextlib.suppress(*NETWORK_ERRORS):
                await msg.nak()

    async def _subscribe(self) -> Fetcher:
        js = await self._client()
        if self._sub is None or self._fetcher is None:
            config = api.ConsumerConfig(
                ack_policy=api.AckPolicy.EXPLICIT, max_ack_pending=self.prefetch,
                ack_wait=self.ack_wait,
                deliver_policy=api.DeliverPolicy.NEW if self.deliver_new
                else api.DeliverPolicy.ALL)
            self._sub = await js.pull_subscribe(self.subject, durable=self.consumer,
                                                stream=self.stream, config=config)
            self._fetcher = Fetcher(self._sub)
        return self._fetcher

    async def _consume_loop(self) -> None:
        pause = 0.1
        while self._consuming:
            free = self.prefetch - len(self._inflight)
            # refill in batches: a fetch is a request round trip, and fetching whenever
            # one slot freed up made most fetches carry a single message. Half the
            # prefetch window still waits in rr meanwhile, so workers never starve.
            if free <= 0 or (self._inflight and free < self._refill_at):
                self._slots.clear()
                await self._slots.wait()
                continue
            try:
                fetcher = await self._subscribe()
                msgs = await fetcher.fetch(free, 1.0)
                pause = 0.1
                self._connected, self._last_error = True, ""
            except NATSTimeoutError:
                continue
            except NotFoundError:
                self._sub, self._stream_ready = None, False   # deleted under us: redeclare
                continue
            except RECOVERABLE as e:
                self._connected, self._last_error = False, f"consume: {describe(e)}"
                log.warning("nats pipeline %s: consume failed (%s); retrying", self.pipeline,
                            describe(e))
                await asyncio.sleep(pause)
                pause = min(5.0, pause * 2)
                continue
            for msg in msgs:
                if not self._consuming:
                    # fetched during pause/stop: straight back to the broker
                    with contextlib.suppress(*NETWORK_ERRORS):
                        await msg.nak()
                    continue
                try:
                    await self._deliver(msg)
                except NETWORK_ERRORS as e:
                    self._last_error = f"consume: {describe(e)}"

    async def _deliver(self, msg: Msg) -> None:
        not_before = (msg.headers or {}).get(NOT_BEFORE)
        if not_before:
            wait = int(not_before) / 1000 - time.time()
            if wait > 0.01:
                await msg.nak(delay=wait)
                return
        seq = msg.metadata.sequence.stream
        if seq in self._inflight:
            return
        job = decode_message(msg.data, msg.headers, msg.subject, self.pipeline,
                             self.priority)
        delivery = NATSDelivery(self, msg, job, seq)
        if job.auto_ack:
            await self.ack_msg(msg, seq)
            delivery.auto_acked = True
        else:
            self._inflight[seq] = delivery
        if self._offer is None or not self._offer(delivery):
            await self.sink(delivery)

    async def _keeper_loop(self) -> None:
        """+WPI for every job in flight, so ack_wait only redelivers jobs of a dead rr."""
        interval = max(0.2, self.ack_wait / 3)
        while self._consuming or self._inflight:
            await asyncio.sleep(interval)
            for d in list(self._inflight.values()):
                if not d.settled:
                    with contextlib.suppress(*NETWORK_ERRORS):
                        await d.msg.in_progress()
            if self._stopped:
                break

    # -- lifecycle ------------------------------------------------------------------------
    async def stop(self) -> None:
        if self._stopped:
            return
        self._consuming = False
        self._slots.set()
        await join_tasks(self._tasks, timeout=3.0)
        self._stopped = True
        # unlike RoadRunner, no purge: unconsumed jobs stay for the next start
        for d in list(self._inflight.values()):
            if not d.settled:
                with contextlib.suppress(*NETWORK_ERRORS):
                    await d.msg.nak()
                d.settled = True
        await self._return_leftovers()
        self._inflight.clear()
        await self._acks.flush()
        await self._close(delete_stream=self.delete_stream_on_stop)

    async def destroy(self) -> None:
        await self.stop()
        await self._forget()

    async def _forget(self) -> None:
        """Remove the durable consumer (and the stream if it is configured to go): a
        destroyed pipeline must not keep a consumer that holds its place on the broker."""
        try:
            nc = await nats.connect(servers=[self.addr], connect_timeout=5,
                                    allow_reconnect=False)
        except NETWORK_ERRORS as e:
            log.warning("nats pipeline %s: destroy could not reach NATS: %s", self.pipeline,
                        describe(e))
            return
        try:
            with contextlib.suppress(NotFoundError, *NETWORK_ERRORS):
                await nc.jetstream().delete_consumer(self.stream, self.consumer)
        finally:
            await nc.close()

    async def _close(self, delete_stream: bool) -> None:
        nc, self._nc, self._js, self._sub = self._nc, None, None, None
        if nc is None:
            return
        try:
            if delete_stream:
                with contextlib.suppress(NotFoundError, *NETWORK_ERRORS):
                    await nc.jetstream().delete_stream(self.stream)
            with contextlib.suppress(*NETWORK_ERRORS):
                await asyncio.wait_for(nc.flush(), 5)
        finally:
            with contextlib.suppress(*NETWORK_ERRORS):
                await nc.close()

    # -- dead letters (rr jobs dlq) -------------------------------------------------------
    async def dead_letters(self, limit: int | None, offset: int) -> list[tuple[Job, int]]:
        """The stream's messages in order, read in place (``get_msg``; a dead-letter
        pipeline is not consumed, so all it holds are dead letters); reference = the
        stream sequence."""
        try:
            js = await self._client()
            info = await js.stream_info(self.stream)
            out: list[tuple[Job, int]] = []
            seq, skipped = int(info.state.first_seq), 0
            while seq <= int(info.state.last_seq) and (limit is None or len(out) < limit):
                try:
                    m = await js.get_msg(self.stream, seq)
                except NotFoundError:   # deleted in the middle
                    seq += 1
                    continue
                seq += 1
                if skipped < offset:
                    skipped += 1
                    continue
                job = decode_message(m.data or b"", m.headers, m.subject or self.subject,
                                     self.pipeline, self.priority)
                job.headers.pop("x-nats-subject", None)
                out.append((job, seq - 1))
        except NETWORK_ERRORS as e:
            raise RRError(f"nats pipeline {self.pipeline}: {describe(e)}") from e
        return out

    async def forget(self, ref: int) -> None:
        js = await self._client()
        with contextlib.suppress(NotFoundError):
            await js.delete_msg(self.stream, int(ref))

    async def state(self) -> PipelineState:
        st = PipelineState(pipeline=self.pipeline, driver=DRIVER, queue=self.subject,
                           ready=self._consuming, priority=self.priority,
                           connected=self._connected and not self._stopped,
                           error=self._last_error)
        if self._stopped:
            return st
        try:
            js = await self._client()
            info = await js.consumer_info(self.stream, self.consumer, timeout=3)
            st.active = int(info.num_ack_pending or 0)
            st.reserved = int(info.num_pending or 0)
        except NotFoundError:
            # no consumer yet (never resumed): everything in the stream is waiting
            with contextlib.suppress(*NETWORK_ERRORS, NotFoundError):
                sinfo = await js.stream_info(self.stream)
                st.reserved = int(sinfo.state.messages or 0)
        except RECOVERABLE as e:
            st.connected, st.error = False, f"state: {describe(e)}"
        return st
