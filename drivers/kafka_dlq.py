"""Dead letters of a Kafka pipeline (``rr jobs dlq list|replay``), read in place.

Kafka cannot delete one record, and not every broker keeps commit metadata (Tansu drops
it), so what was replayed is recorded in the topic itself and in the group's offset:

* **list** reads each partition of the pipeline's topics with a consumer of its own,
  from the group's committed offset (the earliest offset without ``group_id`` or without
  a commit) up to the last record it can fetch; nothing is committed. Records
  named by a *replay marker* and the markers themselves are left out.
* **replay** pushes the copy to its target first, then produces a marker into the same
  partition (no key, empty value, header ``rr_dlq_replayed`` = the replayed
  record's offset) and, with a ``group_id``, commits the group to the first offset that
  is still a dead letter (or one past the last record the listing read when none is
  left), never past a record the listing did not see. A failure between the push and the
  marker replays that job twice, it never loses it.

A consumer of such a pipeline (``rr_dlq_replayed`` records are settled unseen by the
driver) still receives the replayed originals that precede their markers: listing and
replay are meant for dead-letter pipelines that are not consumed, as on every driver.
"""

from __future__ import annotations

import bisect
import contextlib
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata, TopicPartition

from rr.drivers.kafka_config import KafkaPipelineConfig
from rr.errors import RRError
from rr.pipeline.job import Job


class KafkaPipeline(Protocol):
    """What a listing needs of the kafka driver."""
    pipeline: str
    config: KafkaPipelineConfig

    @property
    def connection(self) -> dict[str, Any]: ...

    def decode(self, record: Any) -> Job: ...

    async def produce_marker(self, topic: str, partition: int, offset: int,
                             header: str) -> None: ...

MARKER = "rr_dlq_replayed"
FETCH_MS = 500
#: empty fetches in a row before a partition that should still have records is given up
#: (a compacted or transactional range may end below the end offset)
EMPTY_FETCHES = 4

#: reference of one dead letter: (topic, partition, offset)
Ref = tuple[str, int, int]


@dataclass(slots=True)
class _Partition:
    """What one listing saw of a partition: its range and the offsets still listed."""
    start: int
    end: int
    visible: list[int] = field(default_factory=list)   # ascending

    def commit_position(self) -> int:
        """The first offset still a dead letter, else one past the last record read."""
        return self.visible[0] if self.visible else self.end


class KafkaDeadLetters:
    """One listing session of a pipeline's dead letters (the session is what ``forget``
    advances the group's offset within; ``close`` ends it)."""

    def __init__(self, driver: KafkaPipeline) -> None:
        self._driver = driver
        self._consumer: AIOKafkaConsumer | None = None
        self._parts: dict[TopicPartition, _Partition] = {}

    async def read(self, limit: int | None, offset: int) -> list[tuple[Job, Ref]]:
        cfg = self._driver.config
        if cfg.consume_regexp or not cfg.queue_names():
            raise RRError(f"kafka pipeline {self._driver.pipeline}: listing needs plain "
                          "topic names (consumer_options.topics or consume_partitions)")
        try:
            return await self._read(limit, offset)
        except (KafkaError, OSError) as e:
            raise RRError(f"kafka pipeline {self._driver.pipeline}: listing failed: "
                          f"{e!r}") from e

    async def _open(self) -> AIOKafkaConsumer:
        extra: dict[str, Any] = {}
        if self._driver.config.group_id:
            extra["group_id"] = self._driver.config.group_id
        consumer = AIOKafkaConsumer(**self._driver.connection, **extra,
                                    enable_auto_commit=False, auto_offset_reset="earliest")
        await consumer.start()
        self._consumer = consumer
        return consumer

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        cfg = self._driver.config
        if cfg.consume_partitions:
            return [TopicPartition(t, p) for t, parts in cfg.consume_partitions.items()
                    for p in parts]
        out: list[TopicPartition] = []
        for topic in cfg.topics:
            if consumer.partitions_for_topic(topic) is None:
                await consumer.topics()   # refreshes the metadata
            parts = consumer.partitions_for_topic(topic) or set()
            out.extend(TopicPartition(topic, p) for p in sorted(parts))
        return out

    async def _read(self, limit: int | None, offset: int) -> list[tuple[Job, Ref]]:
        consumer = await self._open()
        tps = await self._partitions(consumer)
        if not tps:
            return []
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        begins = await consumer.beginning_offsets(tps)
        found: list[tuple[Job, Ref]] = []
        skipped = 0
        for tp in tps:
            committed = await consumer.committed(tp) if self._driver.config.group_id else None
            start = max(begins[tp], committed if committed is not None else begins[tp])
            part = self._parts[tp] = _Partition(start, ends[tp])
            records, hidden = await self._fetch(consumer, tp, part)
            for record in records:
                if record.offset in hidden:
                    continue
                part.visible.append(record.offset)
                if skipped < offset:
                    skipped += 1
                    continue
                if limit is None or len(found) < limit:
                    job = self._driver.decode(record)
                    found.append((job, (tp.topic, tp.partition, record.offset)))
        return found

    async def _fetch(self, consumer: AIOKafkaConsumer, tp: TopicPartition,
                     part: _Partition) -> tuple[list[Any], set[int]]:
        """Every record from ``start`` on and the offsets hidden by markers (the markers'
        own included); ``end`` becomes one past the last record read.

        The end offset the broker reports is only a hint (Tansu reports less than it
        holds after multi-record batches), so reading goes on until a fetch comes back
        empty at or past it. Only offsets are kept for the whole range; jobs are decoded
        by the caller for the listed window alone."""
        records: list[Any] = []
        hidden: set[int] = set()
        hint, part.end = part.end, part.start
        consumer.seek(tp, part.start)
        empty = 0
        while empty < EMPTY_FETCHES and not (empty and part.end >= hint):
            batch = (await consumer.getmany(tp, timeout_ms=FETCH_MS)).get(tp, [])
            empty = 0 if batch else empty + 1
            for record in batch:
                part.end = record.offset + 1
                replayed = _marked(record)
                if replayed is None:
                    records.append(record)
                else:
                    hidden.update((record.offset, replayed))
        return records, hidden

    async def forget(self, ref: Ref) -> None:
        """Mark one listed record as replayed (see the module docstring)."""
        topic, partition, off = ref
        tp = TopicPartition(topic, partition)
        part = self._parts.get(tp)
        if part is None:
            raise RRError(f"kafka pipeline {self._driver.pipeline}: {topic}/{partition} "
                          "was not listed")
        await self._driver.produce_marker(topic, partition, off, MARKER)
        i = bisect.bisect_left(part.visible, off)
        if i < len(part.visible) and part.visible[i] == off:
            del part.visible[i]
        if self._consumer is None or not self._driver.config.group_id:
            return
        position = part.commit_position()
        if position > part.start:
            try:
                await self._consumer.commit({tp: OffsetAndMetadata(position, "")})
            except (KafkaError, OSError) as e:
                raise RRError(f"marked as replayed, but the offset commit failed: "
                              f"{e!r}") from e
            part.start = position

    async def close(self) -> None:
        consumer, self._consumer = self._consumer, None
        self._parts.clear()
        if consumer is not None:
            with contextlib.suppress(KafkaError, OSError):
                await consumer.stop()


def _marked(record: Any) -> int | None:
    """The offset a replay marker names, or None for an ordinary record."""
    for key, raw in record.headers or ():
        if key == MARKER:
            try:
                return int(bytes(raw or b"").decode())
            except ValueError:
                return -1
    return None
