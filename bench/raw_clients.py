"""What the broker clients do on their own: consume + ack rates without rr, as the
yardstick that bench/drivers.py puts next to rr's end-to-end rate.

Each function preloads ``n`` messages (not timed), then times consuming and acking all of
them the way a tuned client would, and returns messages/s. Every run uses fresh, uniquely
named queues/streams and removes them afterwards.
"""

from __future__ import annotations

import time
import uuid


async def amqp_consume_ack_rate(n: int, url: str, prefetch: int = 100) -> float:
    """aio-pika: basic.consume with qos prefetch, one basic.ack per message."""
    import asyncio

    import aio_pika

    queue_name = f"rr-bench-raw-{uuid.uuid4().hex[:8]}"
    conn = await aio_pika.connect_robust(url)
    try:
        channel = await conn.channel(publisher_confirms=False)
        queue = await channel.declare_queue(queue_name, auto_delete=False)
        body = b'{"n":0}'
        for _ in range(n):
            await channel.default_exchange.publish(aio_pika.Message(body), routing_key=queue_name)
        # wait until the broker has them all (publishes without confirms are async)
        while (await queue.declare()).message_count < n:
            await asyncio.sleep(0.05)
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
        pipe = client.pipeline(transaction=False)
        for i in range(n):
            pipe.xadd(stream, {"rr_id": str(i), "rr_job": "Bench", "payload": b'{"n":0}'})
            if i % 1000 == 999:
                await pipe.execute()
        await pipe.execute()
        await client.xgroup_create(stream, "bench", id="0")
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
