"""What the broker clients do on their own: consume + ack rates without rr, as the
yardstick that bench/drivers.py puts next to rr's end-to-end rate.

Each function preloads ``n`` messages (not timed), then times consuming and acking all of
them the way a tuned client would, and returns messages/s. Every run uses fresh, uniquely
named queues/streams and removes them afterwards.

To compare like with like, the preloaded messages are the ones rr's driver publishes (the
``rr_*`` envelope: AMQP header table and properties, or the stream fields), and the raw
consumer uses the same prefetch window as the benchmarked pipeline: decoding the envelope
is a real part of the client library's cost that rr cannot avoid either.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

from rr.pipeline.job import Job


async def amqp_consume_ack_rate(n: int, url: str, prefetch: int = 100) -> float:
    """aio-pika: basic.consume with qos prefetch, one basic.ack per message."""
    import asyncio

    import aio_pika

    conn = await aio_pika.connect_robust(url)
    try:
        channel, queue = await preload_queue(conn, n)
        await channel.set_qos(prefetch_count=prefetch)
        done = asyncio.Event()
        seen = 0

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal seen
            await message.ack()
            seen += 1
            if seen >= n:
                done.set()

        started = time.perf_counter()
        tag = await queue.consume(on_message)
        await done.wait()
        elapsed = time.perf_counter() - started
        await queue.cancel(tag)
        await queue.delete(if_unused=False, if_empty=False)
        return n / elapsed
    finally:
        await conn.close()


async def redis_consume_ack_rate(n: int, host: str = "127.0.0.1", port: int = 6379,
                                 batch: int = 100) -> float:
    """redis-py: XREADGROUP COUNT ``batch`` + one pipelined XACK/XDEL per batch (what
    the redis driver does per job, minus the per-job round trip)."""
    import redis.asyncio as aioredis

    stream = f"rr-bench-raw-{uuid.uuid4().hex[:8]}"
    client = aioredis.Redis(host=host, port=port)
    try:
        await preload_stream(client, stream, n)
        seen = 0
        started = time.perf_counter()
        while seen < n:
            reply = await client.xreadgroup("bench", "raw", {stream: ">"}, count=batch,
                                            block=1000)
            ids = [entry_id for entry_id, _ in reply[0][1]] if reply else []
            if not ids:
                continue
            ack = client.pipeline(transaction=True)
            ack.xack(stream, "bench", *ids)
            ack.xdel(stream, *ids)
            await ack.execute()
            seen += len(ids)
        return n / (time.perf_counter() - started)
    finally:
        await client.delete(stream)
        await client.aclose()


async def preload_queue(conn: Any, n: int) -> tuple[Any, Any]:
    """A new queue holding ``n`` messages as rr's amqp driver publishes them; returns
    (channel, queue) on the aio-pika connection ``conn``."""
    import asyncio

    channel = await conn.channel(publisher_confirms=False)
    queue = await channel.declare_queue(f"rr-bench-raw-{uuid.uuid4().hex[:8]}",
                                        auto_delete=False)
    for message in _amqp_messages(n):
        await channel.default_exchange.publish(message, routing_key=queue.name)
    # wait until the broker has them all (publishes without confirms are async)
    while (await queue.declare()).message_count < n:
        await asyncio.sleep(0.05)
    return channel, queue


async def preload_stream(client: Any, stream: str, n: int) -> None:
    """``n`` entries as rr's redis driver adds them, and the consumer group "bench"."""
    pipe = client.pipeline(transaction=False)
    for i, fields in enumerate(_stream_entries(n, stream)):
        pipe.xadd(stream, dict(zip(fields[0::2], fields[1::2], strict=True)))
        if i % 1000 == 999:
            await pipe.execute()
    await pipe.execute()
    await client.xgroup_create(stream, "bench", id="0")


def _bench_job(i: int, pipeline: str) -> Job:
    return Job(id=str(uuid.uuid4()), name="App\\Jobs\\Bench", payload=b'{"n":%d}' % i,
               pipeline=pipeline, priority=10)


def _amqp_messages(n: int) -> Iterator[Any]:
    """Messages exactly as drivers/amqp.py publishes them."""
    import datetime as dt

    import aio_pika

    from rr.drivers.amqp_codec import envelope

    for i in range(n):
        job = _bench_job(i, "bench")
        yield aio_pika.Message(job.payload, headers=envelope(job, "bench"),
                               content_type="application/octet-stream",
                               delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                               timestamp=dt.datetime.now(dt.UTC))


def _stream_entries(n: int, stream: str) -> Iterator[list[bytes]]:
    """Stream fields exactly as drivers/redis.py adds them."""
    from rr.drivers.redis import encode_job

    for i in range(n):
        yield encode_job(_bench_job(i, stream), stream)
