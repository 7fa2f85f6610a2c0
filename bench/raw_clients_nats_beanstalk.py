"""Yardsticks for the nats and beanstalk rows of bench/drivers.py: the raw client alone
(consume + ack, no work) and the raw client feeding the same two PHP workers
(bench/raw_with_workers._run), on messages written exactly as rr's drivers write them.
Each function is ``fn(n, address)``; the raw+workers ones return (jobs/s, CPU µs/job).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from bench.raw_with_workers import _context, _run
from rr.drivers.beanstalk import encode_job as beanstalk_body
from rr.drivers.beanstalk_client import Address, Connection, TimedOut
from rr.drivers.nats import encode_job as nats_body
from rr.goridge import frame as fr
from rr.pipeline.job import Job


def _jobs(n: int) -> list[Job]:
    return [Job(id=f"raw-{i}", name="App\\Jobs\\Bench", payload=b'{"n":1}', pipeline="bench")
            for i in range(n)]


# -- nats ---------------------------------------------------------------------------------
async def _nats_preload(url: str, n: int) -> tuple[Any, Any, str]:
    import nats

    nc = await nats.connect(url)
    js = nc.jetstream()
    name = f"rr-bench-raw-{uuid.uuid4().hex[:8]}"
    await js.add_stream(name=name, subjects=[name])
    pending = [js.publish(name, nats_body(job, "bench"), stream=name) for job in _jobs(n)]
    for i in range(0, n, 500):
        await asyncio.gather(*pending[i:i + 500])
    return nc, js, name


async def _nats_pull(js: Any, name: str) -> Any:
    from nats.js import api

    return await js.pull_subscribe(name, durable="raw", stream=name, config=api.ConsumerConfig(
        ack_policy=api.AckPolicy.EXPLICIT, max_ack_pending=100))


async def nats_consume_ack_rate(n: int, url: str) -> float:
    """nats-py: fetch(100) + ack each (what the driver does, no work per message)."""
    import nats.errors

    nc, js, name = await _nats_preload(url, n)
    try:
        sub = await _nats_pull(js, name)
        seen, started = 0, time.perf_counter()
        while seen < n:
            try:
                msgs = await sub.fetch(100, timeout=1)
            except nats.errors.TimeoutError:
                continue
            for m in msgs:
                await m.ack()
            seen += len(msgs)
        return n / (time.perf_counter() - started)
    finally:
        await js.delete_stream(name)
        await nc.close()


async def nats_rate(n: int, url: str) -> tuple[float, float]:
    import nats.errors

    from rr.drivers.nats import decode_message

    nc, js, name = await _nats_preload(url, n)
    try:
        sub = await _nats_pull(js, name)

        async def fill(buffer: asyncio.Queue[tuple[Any, bytes]]) -> None:
            while True:
                try:
                    msgs = await sub.fetch(100, timeout=1)
                except nats.errors.TimeoutError:
                    continue
                for m in msgs:
                    job = decode_message(m.data, m.headers, m.subject, "bench", 10)
                    await buffer.put((m, fr.encode_payload(_context(job.id, job.name, name),
                                                           job.payload)))

        async def settle(msgs: list[Any]) -> None:
            for m in msgs:
                await m.ack()

        return await _run(n, fill, settle)
    finally:
        await js.delete_stream(name)
        await nc.close()


# -- beanstalk ----------------------------------------------------------------------------
async def _beanstalk_preload(address: str, n: int) -> tuple[Connection, str]:
    tube = f"rr-bench-raw-{uuid.uuid4().hex[:8]}"
    conn = Connection(Address.parse(address), 10)
    await conn.connect()
    await conn.use(tube)
    for job in _jobs(n):
        await conn.put(beanstalk_body(job, "bench"), 0, 0, 60)
    await conn.watch(tube)
    await conn.ignore("default")
    return conn, tube


async def beanstalk_consume_ack_rate(n: int, address: str) -> float:
    """The protocol client alone: reserve + delete per job."""
    conn, _ = await _beanstalk_preload(address, n)
    try:
        started = time.perf_counter()
        for _ in range(n):
            got = await conn.reserve(5)
            await conn.delete(got.id)
        return n / (time.perf_counter() - started)
    finally:
        await conn.close()


async def beanstalk_rate(n: int, address: str) -> tuple[float, float]:
    from rr.drivers.beanstalk import decode_job

    conn, tube = await _beanstalk_preload(address, n)
    try:
        async def fill(buffer: asyncio.Queue[tuple[Any, bytes]]) -> None:
            while True:
                try:
                    got = await conn.reserve(0)
                except TimedOut:
                    await asyncio.sleep(0.001)
                    continue
                job = decode_job(got.body, "bench", 10)
                await buffer.put((got.id, fr.encode_payload(_context(job.id, job.name, tube),
                                                            job.payload)))

        async def settle(ids: list[Any]) -> None:
            for job_id in ids:
                await conn.delete(job_id)

        return await _run(n, fill, settle)
    finally:
        await conn.close()
