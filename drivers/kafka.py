"""Kafka pipelines on aiokafka (spec/drivers.md §3).

Wire format is RoadRunner's: the record key is the job ID, the value the payload, one
header per job header (first value), plus ``rr_job``, ``rr_pipeline`` and ``rr_priority``
(unsigned 64-bit little-endian).

Where this driver deliberately differs from RoadRunner (which commits whatever was acked
and does nothing on a failed job):

* offsets are committed only up to the lowest record a worker has not finished
  (``kafka_offsets.PartitionOffsets``), so an rr crash never skips unfinished records;
* a plain Nack (worker crash, error frame, timeout) re-produces the record to the same
  topic and partition, then settles the original, so failed jobs are retried in the same
  session instead of waiting for a restart or rebalance;
* a record without ``rr_priority`` gets the pipeline priority (RoadRunner uses 10), and
  one without ``rr_pipeline`` the consuming pipeline (RoadRunner: ``deduced_by_rr``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata, TopicPartition

from rr.drivers.kafka_config import (
    KafkaPipelineConfig,
    OffsetSpec,
    connection_kwargs,
    parse_pipeline,
)
from rr.drivers.kafka_dlq import MARKER, KafkaDeadLetters
from rr.drivers.kafka_offsets import PartitionOffsets
from rr.errors import RRError
from rr.pipeline.deadletters import HeldDeadLetters
from rr.pipeline.driver import Delivery, Driver, PipelineOptions, PipelineState, Sink
from rr.pipeline.job import Headers, Job

log = logging.getLogger("rr.jobs.kafka")

RESERVED_HEADERS = ("rr_job", "rr_pipeline", "rr_priority")
DEDUCED = "deduced_by_rr"
STOPPED = "failed to acknowledge the JOB, the pipeline is probably stopped"
POLL_BATCH = 100
#: at most one offset commit per this many seconds while acks stream in. Committing after
#: every round trip cost a sixth of rr's CPU at full speed (a commit covered only a few
#: records); a crash can now repeat at most this window's records, never skip one.
COMMIT_INTERVAL = 0.1


def encode_headers(job: Job, pipeline: str, priority: int) -> list[tuple[str, bytes]]:
    """Record headers for a job. RoadRunner writes only each header's first value, which
    loses the others; here every value is its own record header under the same key (the
    first value first), so multi-valued headers survive. A RoadRunner consumer reading
    such a record keeps one of the values."""
    out = [(k, value.encode()) for k, values in job.headers.items()
           if k not in RESERVED_HEADERS for value in values]
    out.append(("rr_job", job.name.encode()))
    out.append(("rr_pipeline", pipeline.encode()))
    out.append(("rr_priority", max(priority, 0).to_bytes(8, "little", signed=False)))
    return out


def decode_record(record: ConsumerRecord[Any, Any], pipeline: str,
                  default_priority: int) -> Job:
    headers: Headers = {}
    name, origin, priority = DEDUCED, "", 0
    for key, raw in record.headers or ():
        value = bytes(raw or b"")
        if key == "rr_job":
            name = value.decode("utf-8", "replace") or DEDUCED
        elif key == "rr_pipeline":
            origin = value.decode("utf-8", "replace")
        elif key == "rr_priority":
            priority = int.from_bytes(value[:8], "little") if len(value) >= 8 else 0
        else:
            # repeated keys keep every value (RoadRunner keeps one)
            headers.setdefault(key, []).append(value.decode("utf-8", "replace"))
    key_text = bytes(record.key).decode("utf-8", "replace") if record.key else ""
    return Job(id=key_text or str(uuid.uuid4()), name=name,
               payload=bytes(record.value or b""), headers=headers,
               pipeline=origin or pipeline, priority=priority or default_priority,
               topic=record.topic, partition=record.partition, offset=record.offset)


class KafkaDelivery(Delivery):
    """One consumed record; settling it lets the partition's commit position move on."""

    def __init__(self, driver: KafkaDriver, record: ConsumerRecord[Any, Any],
                 offsets: PartitionOffsets, job: Job) -> None:
        self.job = job
        self._driver = driver
        self._record = record
        self._offsets = offsets
        self._settled = False

    def context(self) -> bytes:
        r = self._record
        return self.job.context_bytes("kafka", queue=r.topic, topic=r.topic,
                                      partition=r.partition, offset=r.offset)

    def _check(self) -> None:
        if self._driver.stopped:
            raise RRError(STOPPED)
        if self._settled:
            raise RRError("kafka: the job was already acknowledged")

    def _settle(self) -> None:
        self._settled = True
        self._offsets.settle(self._record.offset)
        self._driver.commit_soon()

    async def ack(self) -> None:
        self._check()
        self._settle()

    async def nack(self, requeue: bool | None = None, delay: int = 0) -> None:
        self._check()
        if requeue is False:
            self._settle()  # discarded on purpose: commit past it
            return
        # plain Nack and Nack(requeue): redeliver a copy; the delay is not supported by
        # Kafka and is ignored, as in RoadRunner
        await self._driver.reproduce(self.job, self._record)
        self._settle()

    async def requeue(self, headers: Headers | None, delay: int) -> None:
        self._check()
        self.job.headers = self.job.merged_headers(headers)
        await self._driver.reproduce(self.job, self._record)
        self._settle()


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, driver: KafkaDriver) -> None:
        self._driver = driver

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self._driver.flush_commits()
        for tp in revoked:
            self._driver.offsets.pop(tp, None)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        await self._driver.position_new_partitions(list(assigned))


class KafkaDriver(HeldDeadLetters, Driver):
    kind = "kafka"

    def __init__(self, options: PipelineOptions, sink: Sink) -> None:
        super().__init__(options, sink)
        self.config: KafkaPipelineConfig = parse_pipeline(options)
        self._conn = connection_kwargs(options.global_section)
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._start_lock = asyncio.Lock()
        self._poll_task: asyncio.Task[None] | None = None
        self._commit_task: asyncio.Task[None] | None = None
        self._monitor_task: asyncio.Task[None] | None = None
        self._commit_wanted = asyncio.Event()
        self.offsets: dict[TopicPartition, PartitionOffsets] = {}
        self._consuming = False
        self._connected = True
        self.stopped = False

    @property
    def connection(self) -> dict[str, Any]:
        """Client keyword arguments (brokers, SASL, TLS) shared by every client."""
        return self._conn

    # connections -------------------------------------------------------------------
    async def _ensure_producer(self) -> AIOKafkaProducer:
        async with self._start_lock:
            if self.stopped:
                raise RRError(f"kafka pipeline {self.pipeline} is stopped")
            if self._producer is None:
                producer = AIOKafkaProducer(**self._conn, **self.config.producer)
                try:
                    await producer.start()
                except BaseException:
                    await producer.stop()
                    raise
                self._producer = producer
                self._monitor_task = asyncio.create_task(self._monitor(),
                                                         name=f"kafka-monitor-{self.pipeline}")
            if self.config.auto_create_topics:
                await self._create_topics(self.config.queue_names())
            return self._producer

    async def _create_topics(self, topics: list[str]) -> None:
        """auto_create_topics_enable: make missing topics (1 partition) so that produce and
        consume work on brokers that do not create topics on metadata requests."""
        if not topics or self.config.consume_regexp:
            return
        from aiokafka.admin import AIOKafkaAdminClient, NewTopic
        from aiokafka.errors import TopicAlreadyExistsError

        admin = AIOKafkaAdminClient(**self._conn)
        await admin.start()
        try:
            existing = set(await admin.list_topics())
            missing = [t for t in topics if t not in existing]
            if missing:
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics([NewTopic(t, 1, 1) for t in missing])
        finally:
            await admin.close()
        self.config.auto_create_topics = False  # once per pipeline

    async def _monitor(self) -> None:
        """Keeps ``connected`` honest: the client reconnects by itself, but only a metadata
        round trip tells whether a broker answers. Every failed probe is logged."""
        delay = 1.0
        while True:
            producer = self._producer
            if producer is None:
                return
            try:
                ok = await asyncio.wait_for(producer.client.force_metadata_update(), 5)
            except (TimeoutError, KafkaError, OSError):
                ok = False
            if ok:
                if not self._connected:
                    log.info("kafka pipeline %s: connection to the brokers restored",
                             self.pipeline)
                self._connected, delay = True, 2.0
            else:
                self._connected = False
                log.warning("kafka pipeline %s: brokers %s unreachable, retrying in %.1fs",
                            self.pipeline, self._conn["bootstrap_servers"], delay)
                delay = min(delay * 1.5, 15.0)
            await asyncio.sleep(delay)

    # producing ---------------------------------------------------------------------
    async def push(self, job: Job) -> None:
        producer = await self._ensure_producer()
        topic = job.topic or self.config.default_topic()
        if not topic:
            raise RRError(f"kafka: job {job.id} has no topic and pipeline {self.pipeline} "
                          f"consumes none to default to")
        partition = job.partition if self.config.manual_partitioning else None
        priority = job.priority or self.options.priority
        # delay and auto_ack have no meaning on Kafka and are ignored (as in RoadRunner)
        await self._send(producer, topic, job, partition,
                         encode_headers(job, job.pipeline or self.pipeline, priority))

    async def _send(self, producer: AIOKafkaProducer, topic: str, job: Job,
                    partition: int | None, headers: list[tuple[str, bytes]]) -> None:
        """Produce and wait for the acks; while the brokers are unreachable keep trying
        until jobs.timeout (the client reconnects by itself), then fail."""
        deadline = asyncio.get_running_loop().time() + self.options.timeout
        while True:
            try:
                await producer.send_and_wait(topic, job.payload, key=job.id.encode(),
                                             partition=partition, headers=headers)
                return
            except KafkaError as exc:
                if not getattr(exc, "retriable", False) or \
                        asyncio.get_running_loop().time() + 0.5 >= deadline:
                    raise RRError(f"kafka: producing to {topic} failed: {exc!r}") from exc
                log.warning("kafka pipeline %s: producing to %s failed (%r), retrying",
                            self.pipeline, topic, exc)
                await asyncio.sleep(0.5)

    async def reproduce(self, job: Job, record: ConsumerRecord[Any, Any]) -> None:
        """A copy of a consumed record (same key, topic and partition) with the job's
        current headers, so the job is redelivered after the ones already queued."""
        producer = await self._ensure_producer()
        await self._send(producer, record.topic, job, record.partition,
                         encode_headers(job, job.pipeline, job.priority))

    async def produce_marker(self, topic: str, partition: int, offset: int,
                             header: str) -> None:
        """A dead-letter replay marker naming ``offset`` (see kafka_dlq)."""
        producer = await self._ensure_producer()
        try:
            await producer.send_and_wait(topic, b"", partition=partition,
                                         headers=[(header, str(offset).encode())])
        except KafkaError as exc:
            raise RRError(f"kafka: marking {topic}/{partition}@{offset} as replayed "
                          f"failed: {exc!r}") from exc

    def decode(self, record: ConsumerRecord[Any, Any]) -> Job:
        return decode_record(record, self.pipeline, self.options.priority)

    def dead_letter_session(self) -> KafkaDeadLetters:
        """Dead letters are listed and replayed in place (see kafka_dlq)."""
        return KafkaDeadLetters(self)

    # consuming ---------------------------------------------------------------------
    async def _ensure_consumer(self) -> AIOKafkaConsumer:
        await self._ensure_producer()
        if self._consumer is not None:
            return self._consumer
        cfg = self.config
        if not cfg.consumes:
            raise RRError(f"kafka pipeline {self.pipeline} has no consumer_options: "
                          f"topics and consume partitions should not be empty for the consumer")
        reset = "latest" if cfg.consumer_offset.type == "AtEnd" else "earliest"
        extra: dict[str, Any] = {}
        if cfg.group_id:
            extra["group_id"] = cfg.group_id
            if cfg.instance_id:
                extra["group_instance_id"] = cfg.instance_id
        consumer = AIOKafkaConsumer(**self._conn, **cfg.consumer, **extra,
                                    enable_auto_commit=False, auto_offset_reset=reset,
                                    max_poll_records=POLL_BATCH)
        await consumer.start()
        try:
            if cfg.consume_partitions:
                tps = [TopicPartition(t, p) for t, parts in cfg.consume_partitions.items()
                       for p in parts]
                consumer.assign(tps)
                for tp in tps:
                    await self._seek(consumer, tp, cfg.consume_partitions[tp.topic][tp.partition])
            elif cfg.consume_regexp:
                consumer.subscribe(pattern="|".join(f"(?:{t})" for t in cfg.topics),
                                   listener=_Rebalance(self))
            else:
                consumer.subscribe(topics=cfg.topics, listener=_Rebalance(self))
        except BaseException:
            await consumer.stop()
            raise
        self._consumer = consumer
        return consumer

    async def position_new_partitions(self, assigned: list[TopicPartition]) -> None:
        """Fresh bookkeeping per assignment; consumer_offset applies where the group has no
        committed offset yet (AtStart/AtEnd are the client's reset policy)."""
        consumer = self._consumer
        for tp in assigned:
            self.offsets[tp] = PartitionOffsets()
        spec = self.config.consumer_offset
        if consumer is None or spec.type in ("AtStart", "AtEnd"):
            return
        for tp in assigned:
            committed = await consumer.committed(tp) if self.config.group_id else None
            if committed is None:
                await self._seek(consumer, tp, spec)

    async def _seek(self, consumer: AIOKafkaConsumer, tp: TopicPartition,
                    spec: OffsetSpec) -> None:
        if spec.type == "AtStart":
            await consumer.seek_to_beginning(tp)
        elif spec.type == "AtEnd":
            await consumer.seek_to_end(tp)
        elif spec.type in ("At", "WithEpoch"):  # the epoch is not checked
            consumer.seek(tp, max(spec.value, 0))
        elif spec.type == "AfterMilli":
            found = await consumer.offsets_for_times({tp: spec.value})
            if found.get(tp) is not None:
                consumer.seek(tp, found[tp].offset)  # type: ignore[union-attr]
            else:
                await consumer.seek_to_end(tp)
        elif spec.type == "Relative":  # relative to the end, clamped at the start
            end = (await consumer.end_offsets([tp]))[tp]
            start = (await consumer.beginning_offsets([tp]))[tp]
            consumer.seek(tp, max(start, end + spec.value))
        self.offsets[tp] = PartitionOffsets()

    async def _poll(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        while True:
            batch = await consumer.getmany(timeout_ms=1000, max_records=POLL_BATCH)
            for tp, records in batch.items():
                for record in records:
                    offsets = self.offsets.get(tp)
                    if offsets is None:
                        offsets = self.offsets[tp] = PartitionOffsets()
                    job = decode_record(record, self.pipeline, self.options.priority)
                    offsets.delivered(record.offset)
                    if MARKER in job.headers:  # a dead-letter replay marker, not a job
                        offsets.settle(record.offset)
                        self.commit_soon()
                        continue
                    try:
                        await self.sink(KafkaDelivery(self, record, offsets, job))
                    except asyncio.CancelledError:
                        offsets.next_to_deliver = record.offset  # deliver again on resume
                        raise

    def commit_soon(self) -> None:
        if self.config.group_id:
            self._commit_wanted.set()

    async def flush_commits(self) -> None:
        consumer = self._consumer
        if consumer is None or not self.config.group_id:
            return
        assigned = consumer.assignment()
        due = {tp: off for tp, off in self.offsets.items()
               if tp in assigned and off.needs_commit()}
        if not due:
            return
        positions = {tp: off.commit_position() for tp, off in due.items()}
        await consumer.commit({tp: OffsetAndMetadata(pos, "") for tp, pos in positions.items()})
        for tp, pos in positions.items():
            due[tp].committed = pos

    async def _commit_loop(self) -> None:
        """Coalesces acks into at most one commit per COMMIT_INTERVAL."""
        while True:
            await self._commit_wanted.wait()
            self._commit_wanted.clear()
            try:
                await self.flush_commits()
            except (KafkaError, OSError) as exc:
                log.warning("kafka pipeline %s: offset commit failed (%s), retrying",
                            self.pipeline, exc)
                self._commit_wanted.set()
                await asyncio.sleep(1.0)
                continue
            await asyncio.sleep(COMMIT_INTERVAL)

    async def run(self) -> None:
        if self._consuming:
            raise RRError("kafka listener is already in the active state")
        consumer = await self._ensure_consumer()
        if consumer.paused():
            for tp in consumer.paused():
                off = self.offsets.get(tp)
                if off is not None and off.next_to_deliver >= 0:
                    consumer.seek(tp, off.next_to_deliver)
            consumer.resume(*consumer.paused())
        self._consuming = True
        self._poll_task = asyncio.create_task(self._poll(), name=f"kafka-poll-{self.pipeline}")
        self._poll_task.add_done_callback(self._poll_ended)
        if self._commit_task is None:
            self._commit_task = asyncio.create_task(self._commit_loop(),
                                                    name=f"kafka-commit-{self.pipeline}")

    def _poll_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self._consuming = False
            log.error("kafka pipeline %s: consumer stopped: %s", self.pipeline,
                      task.exception())

    async def _stop_polling(self) -> None:
        task, self._poll_task = self._poll_task, None
        self._consuming = False
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def pause(self) -> None:
        if not self._consuming:
            raise RRError("no active listeners, nothing to pause")
        await self._stop_polling()
        consumer = self._consumer
        if consumer is not None:
            assigned = list(consumer.assignment())
            for tp in assigned:
                off = self.offsets.get(tp)
                if off is not None and off.next_to_deliver >= 0:
                    consumer.seek(tp, off.next_to_deliver)  # drop what was fetched
            consumer.pause(*assigned)

    async def resume(self) -> None:
        await self.run()

    async def stop(self) -> None:
        """Unfinished records stay uncommitted and are redelivered on the next start."""
        if self.stopped:
            return
        await self._stop_polling()
        with contextlib.suppress(Exception):
            await self.flush_commits()
        with contextlib.suppress(Exception):
            await self.dead_letters_done()
        self.stopped = True
        for task in (self._commit_task, self._monitor_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                await self._consumer.stop()
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await self._producer.stop()
        self._consumer = self._producer = None

    async def state(self) -> PipelineState:
        return PipelineState(pipeline=self.pipeline, driver=self.kind,
                             queue=",".join(self.config.queue_names()) or "NO TOPICS",
                             ready=self._consuming, priority=self.options.priority,
                             connected=self._connected and not self.stopped)
