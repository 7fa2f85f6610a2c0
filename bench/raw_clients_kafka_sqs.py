"""Kafka and SQS clients on their own (no rr): the yardstick bench/drivers.py puts next to
rr's end-to-end rate. Each preloads ``n`` messages (not timed), then times consuming and
settling all of them as a tuned client would, and returns messages/s. Topics and queues
are uniquely named per run.
"""

from __future__ import annotations

import asyncio
import time
import uuid


async def preload_topic(brokers: str, n: int) -> str:
    """A new one-partition topic holding ``n`` records as rr's kafka driver produces them
    (key = job id, the rr_* headers); returns its name."""
    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    from bench.raw_clients import _bench_job
    from rr.drivers.kafka import encode_headers

    topic = f"rr-bench-raw-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=brokers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=brokers, enable_idempotence=False,
                                linger_ms=5)
    await producer.start()
    try:
        futures = []
        for i in range(n):
            job = _bench_job(i, "bench")
            futures.append(await producer.send(topic, job.payload, key=job.id.encode(),
                                               headers=encode_headers(job, "bench", 10)))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return topic


async def kafka_consume_commit_rate(n: int, brokers: str, batch: int = 100) -> float:
    """aiokafka: group consumer, getmany(``batch``) + one offset commit per batch (what the
    kafka driver does when acks arrive faster than a commit round trip)."""
    from aiokafka import AIOKafkaConsumer

    topic = await preload_topic(brokers, n)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=brokers, group_id=topic,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                max_poll_records=batch)
    await consumer.start()
    try:
        # joining the group is setup, not consumption: wait for the assignment first
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=100, max_records=1)
            if consumer.assignment():
                await consumer.seek_to_beginning()
        seen = 0
        started = time.perf_counter()
        while seen < n:
            got = await consumer.getmany(timeout_ms=1000, max_records=batch)
            for records in got.values():
                seen += len(records)
            if got:
                await consumer.commit()
        return n / (time.perf_counter() - started)
    finally:
        await consumer.stop()


async def sqs_receive_delete_rate(n: int, endpoint: str, prefetch: int = 10) -> float:
    """aiobotocore: ReceiveMessage(10, long poll) + one DeleteMessageBatch per receive."""
    from aiobotocore.session import get_session

    async with get_session().create_client(
            "sqs", region_name="us-east-1", endpoint_url=endpoint,
            aws_access_key_id="test", aws_secret_access_key="test") as client:
        url = (await client.create_queue(QueueName=f"rr-bench-raw-{uuid.uuid4().hex[:8]}")
               )["QueueUrl"]
        try:
            for start in range(0, n, 10):
                await client.send_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(i), "MessageBody": '{"n":0}'}
                    for i in range(start, min(start + 10, n))])
            seen = 0
            started = time.perf_counter()
            while seen < n:
                reply = await client.receive_message(QueueUrl=url,
                                                     MaxNumberOfMessages=prefetch,
                                                     WaitTimeSeconds=1)
                messages = reply.get("Messages") or []
                if messages:
                    await client.delete_message_batch(QueueUrl=url, Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(messages)])
                seen += len(messages)
            return n / (time.perf_counter() - started)
        finally:
            await client.delete_queue(QueueUrl=url)
