"""The broker's client plus the same two PHP workers, without rr: the best a hand-written
consumer could do end to end, as the yardstick bench/drivers.py puts next to rr.

bench/raw_clients*.py time the client library alone (consume + ack with no work per
message). For a bulk-fetching broker that is several times what two PHP workers can run,
so "rr / raw" there mostly measures PHP, not rr. Here the messages make the same trip as
through rr - broker -> client -> goridge frame -> PHP worker (tests/php/jobs_echo.php) ->
reply -> ack - in the leanest loop that is still correct: a reader keeps a bounded buffer
full, each worker pipe runs one job at a time, and acks/commits are batched (at most
``ACK_BATCH`` ids or ``ACK_DELAY`` seconds per round trip, as rr's drivers do).

Each function preloads ``n`` messages exactly as rr's driver writes them (not timed), then
times consuming all of them from the first reply on, and returns (jobs/s, CPU µs of this
process per job) - the second is rr's "CPU µs/job" column for the bare loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.pipes import BarePipe
from rr.goridge import frame as fr
from rr.pipeline.job import Job

ROOT = Path(__file__).resolve().parent.parent
WORKER = ["php", str(ROOT / "tests" / "php" / "jobs_echo.php")]
WORKERS = 2
ACK_BATCH = 25
ACK_DELAY = 0.002
BUFFER = 100


async def _start_workers() -> list[BarePipe]:
    loop = asyncio.get_running_loop()
    pipes = []
    hello = fr.encode(json.dumps({"pid": os.getpid()}).encode(), fr.CONTROL | fr.CODEC_JSON)
    for _ in range(WORKERS):
        _, pipe = await loop.subprocess_exec(BarePipe, *WORKER, stdin=subprocess.PIPE,
                                             stdout=subprocess.PIPE, stderr=None)
        await pipe.exchange(hello)
        pipes.append(pipe)
    return pipes


async def _stop_workers(pipes: list[BarePipe]) -> None:
    for p in pipes:
        if p.transport is not None:
            p.transport.kill()
    for p in pipes:
        if p.transport is not None:
            for _ in range(200):  # reap before the loop closes
                if p.transport.get_returncode() is not None:
                    break
                await asyncio.sleep(0.01)
            p.transport.close()


class _Floor:
    """Highest position such that every position up to it is finished: what a cumulative
    ack (Kafka commit, AMQP multiple ack) may cover without settling a running job."""

    def __init__(self, first: int) -> None:
        self.floor = first - 1
        self._done: set[int] = set()

    def finish(self, positions: list[int]) -> bool:
        """Record finished positions; True when the floor moved."""
        self._done.update(positions)
        moved = False
        while self.floor + 1 in self._done:
            self.floor += 1
            self._done.discard(self.floor)
            moved = True
        return moved


def _context(job_id: str, name: str, queue: str) -> bytes:
    """The worker's context JSON, built as rr builds it (the PHP side is the same)."""
    return Job(id=job_id, name=name, pipeline="bench").context_bytes("raw", queue=queue)


async def _run(n: int, fill: Callable[[asyncio.Queue[tuple[Any, bytes]]], Awaitable[None]],
               settle: Callable[[list[Any]], Awaitable[None]]) -> tuple[float, float]:
    """Reader ``fill`` -> buffer -> 2 workers -> batched ``settle``; (jobs/s, CPU µs/job)."""
    pipes = await _start_workers()
    buffer: asyncio.Queue[tuple[Any, bytes]] = asyncio.Queue(BUFFER)
    acks: list[Any] = []
    kick = asyncio.Event()
    done = 0
    started = cpu_started = 0.0
    finished = asyncio.Event()

    async def work(pipe: BarePipe) -> None:
        nonlocal started, cpu_started
        while True:
            token, frame = await buffer.get()
            await pipe.exchange(frame)
            if not started:
                started, cpu_started = time.perf_counter(), time.process_time()
            acks.append(token)
            if len(acks) >= ACK_BATCH:
                kick.set()

    async def acker() -> None:
        nonlocal done
        while done < n:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(kick.wait(), ACK_DELAY)
            kick.clear()
            if acks:
                batch = acks[:]
                del acks[:]
                await settle(batch)
                done += len(batch)
        finished.set()

    tasks = [asyncio.create_task(fill(buffer)), asyncio.create_task(acker())]
    tasks += [asyncio.create_task(work(p)) for p in pipes]
    try:
        await finished.wait()
        cpu = time.process_time() - cpu_started
        return (n - 1) / (time.perf_counter() - started), cpu / (n - 1) * 1e6
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await _stop_workers(pipes)


# -- redis --------------------------------------------------------------------------------
async def redis_rate(n: int, host: str = "127.0.0.1", port: int = 6379
                     ) -> tuple[float, float]:
    """XREADGROUP COUNT 100 into the buffer; XACK + XDEL per batch of finished jobs."""
    import redis.asyncio as aioredis

    from bench.raw_clients import preload_stream

    stream = f"rr-bench-rawpw-{uuid.uuid4().hex[:8]}"
    client = aioredis.Redis(host=host, port=port)
    try:
        await preload_stream(client, stream, n)

        async def fill(buffer: asyncio.Queue[tuple[Any, bytes]]) -> None:
            while True:
                reply = await client.xreadgroup("bench", "raw", {stream: ">"}, count=100,
                                                block=1000)
                for entry_id, fields in (reply[0][1] if reply else []):
                    ctx = _context(fields[b"rr_id"].decode(), fields[b"rr_job"].decode(),
                                   stream)
                    await buffer.put((entry_id, fr.encode_payload(ctx, fields[b"payload"])))

        async def settle(ids: list[Any]) -> None:
            p = client.pipeline(transaction=False)
            p.xack(stream, "bench", *ids)
            p.xdel(stream, *ids)
            await p.execute()

        return await _run(n, fill, settle)
    finally:
        await client.delete(stream)
        await client.aclose()


# -- kafka --------------------------------------------------------------------------------
async def kafka_rate(n: int, brokers: str) -> tuple[float, float]:
    """getmany(100) into the buffer; one offset commit per batch of finished records (the
    records of one partition finish in order here: one reader, FIFO buffer)."""
    from aiokafka import AIOKafkaConsumer
    from aiokafka.structs import OffsetAndMetadata, TopicPartition

    from bench.raw_clients_kafka_sqs import preload_topic

    topic = await preload_topic(brokers, n)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=brokers, group_id=topic,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                max_poll_records=100)
    await consumer.start()
    try:
        while not consumer.assignment():  # joining the group is setup, not consumption
            await asyncio.sleep(0.05)

        async def fill(buffer: asyncio.Queue[tuple[Any, bytes]]) -> None:
            while True:
                got = await consumer.getmany(timeout_ms=1000, max_records=100)
                for records in got.values():
                    for r in records:
                        name = next((v for k, v in r.headers if k == "rr_job"), b"")
                        ctx = _context(r.key.decode(), name.decode(), r.topic)
                        await buffer.put(((r.topic, r.partition, r.offset),
                                          fr.encode_payload(ctx, r.value)))

        floors: dict[TopicPartition, _Floor] = {}

        async def settle(tokens: list[Any]) -> None:
            finished: dict[TopicPartition, list[int]] = {}
            for t, p, off in tokens:
                finished.setdefault(TopicPartition(t, p), []).append(off)
            due = {}
            for tp, offsets in finished.items():
                floor = floors.setdefault(tp, _Floor(0))
                if floor.finish(offsets):
                    due[tp] = OffsetAndMetadata(floor.floor + 1, "")
            if due:
                await consumer.commit(due)

        return await _run(n, fill, settle)
    finally:
        await consumer.stop()


# -- amqp ---------------------------------------------------------------------------------
async def amqp_rate(n: int, url: str) -> tuple[float, float]:
    """basic.consume with prefetch 100 into the buffer; one multiple ack per batch, up to
    the highest tag below which every job finished."""
    import aio_pika

    from bench.raw_clients import preload_queue

    conn = await aio_pika.connect_robust(url)
    try:
        channel, queue = await preload_queue(conn, n)
        queue_name = queue.name
        await channel.set_qos(prefetch_count=100)

        async def fill(buffer: asyncio.Queue[tuple[Any, bytes]]) -> None:
            async def on_message(message: Any) -> None:
                headers = message.headers or {}
                ctx = _context(str(headers.get("rr_id", "")), str(headers.get("rr_job", "")),
                               queue_name)
                await buffer.put((message, fr.encode_payload(ctx, message.body)))

            tag = await queue.consume(on_message)
            try:
                await asyncio.get_running_loop().create_future()  # until cancelled
            finally:
                await queue.cancel(tag)

        floor = _Floor(1)
        by_tag: dict[int, Any] = {}

        async def settle(messages: list[Any]) -> None:
            for m in messages:
                by_tag[m.delivery_tag] = m
            if floor.finish([m.delivery_tag for m in messages]):
                top = by_tag[floor.floor]
                for tag in [t for t in by_tag if t <= floor.floor]:
                    del by_tag[tag]
                await top.ack(multiple=True)

        try:
            return await _run(n, fill, settle)
        finally:
            await queue.delete(if_unused=False, if_empty=False)
    finally:
        await conn.close()
