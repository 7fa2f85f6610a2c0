"""Driver-level tests of drivers/redis.py against the real Redis on 127.0.0.1:6379.

Each test uses its own stream (uuid) and cleans it up; the raw redis-py client checks the
broker side (interop: what rr writes is readable without rr, and the reverse).
"""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from rr.config import Section
from rr.drivers.redis import (
    RedisDelivery,
    RedisDriver,
    connection_kwargs,
    decode_entry,
    encode_job,
    pack_fields,
    unpack_fields,
)
from rr.errors import ConfigError, RRError
from rr.pipeline.driver import PipelineOptions
from rr.pipeline.job import Job
from tests.drivers.conftest import REDIS_PORT
from tests.drivers.sink import Inbox

REDIS_HOST = "127.0.0.1"


@pytest.fixture(scope="module", autouse=True)
def redis_server(redis_port: int) -> None:
    """Redis answers (started by scripts/services/redis.sh if needed; skip, or fail
    under CI=true, otherwise: see tests/drivers/conftest.py)."""


@pytest.fixture
async def raw() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis(host=REDIS_HOST, port=REDIS_PORT)
    yield client
    await client.aclose()


@pytest.fixture
def stream() -> str:
    return f"rr-test-{uuid.uuid4().hex}"


@pytest.fixture(autouse=True)
async def cleanup(raw: aioredis.Redis, stream: str) -> AsyncIterator[None]:
    yield
    await raw.delete(stream, f"{stream}:delayed")


class Collector(Inbox):
    def __init__(self) -> None:
        super().__init__(timeout=10.0)

    async def next(self, timeout: float | None = None) -> RedisDelivery:
        d = await super().next(timeout)
        assert isinstance(d, RedisDelivery)
        return d


def make_driver(stream: str, sink: Collector, **opts: Any) -> RedisDriver:
    options = {"stream": stream, "block": "200ms", **opts}
    return RedisDriver(
        PipelineOptions(opts.pop("name", "p-" + stream[-8:]), "redis", options,
                        global_section=Section({"addrs": [f"{REDIS_HOST}:{REDIS_PORT}"]},
                                               "redis")),
        sink)


def job(**kw: Any) -> Job:
    base: dict[str, Any] = {"id": uuid.uuid4().hex, "name": "App\\Job", "payload": b"hello",
                            "headers": {"h": ["1"]}, "pipeline": "p", "priority": 5}
    base.update(kw)
    return Job(**base)


async def wait_until(pred: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        v = pred()
        if asyncio.iscoroutine(v):
            v = await v
        if v:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.05)


# -- pure parts ---------------------------------------------------------------------------
def test_pack_roundtrip_is_binary_safe() -> None:
    fields = [b"a", b"", b"x:y:1:2", bytes(range(256)), "ü".encode()]
    assert unpack_fields(pack_fields(fields)) == fields
    assert pack_fields(fields) != pack_fields(fields)  # nonce keeps delayed twins apart


def test_envelope_roundtrip() -> None:
    j = job(delay=3, auto_ack=True, headers={"a": ["1", "2"]})
    fields = encode_job(j, "p")
    mapping = dict(zip(fields[0::2], fields[1::2], strict=True))
    assert mapping[b"rr_headers"] == b'{"a":["1","2"]}'
    assert mapping[b"rr_delay"] == b"3" and mapping[b"rr_auto_ack"] == b"true"
    back = decode_entry(mapping, "1-0", "p", 10)
    assert (back.id, back.name, back.payload, back.headers, back.delay, back.auto_ack,
            back.priority) == (j.id, j.name, j.payload, j.headers, 3, True, 5)


def test_foreign_entry_is_deduced() -> None:
    back = decode_entry({b"user": b"42", b"payload": b"body"}, "7-1", "pipe", 3)
    assert (back.id, back.name, back.payload, back.headers, back.pipeline, back.priority) == \
        ("7-1", "deduced_by_rr", b"body", {"user": ["42"]}, "pipe", 3)
    no_payload = decode_entry({b"k": b"v"}, "7-2", "pipe", 3)
    assert json.loads(no_payload.payload) == {"k": "v"}


def test_connection_config() -> None:
    kw = connection_kwargs(Section({"addrs": ["10.0.0.1:6380"], "db": 2, "password": "pw",
                                    "dial_timeout": "2s", "read_timeout": "7s"}, "redis"))
    assert (kw["host"], kw["port"], kw["db"], kw["password"], kw["socket_connect_timeout"],
            kw["socket_timeout"]) == ("10.0.0.1", 6380, 2, "pw", 2.0, 7.0)
    url = connection_kwargs(Section({"addrs": "redis://u:p@h:1/3"}, "redis"))
    assert (url["host"], url["port"], url["db"], url["username"]) == ("h", 1, 3, "u")
    with pytest.raises(ConfigError, match="redis.addrs"):
        connection_kwargs(Section({"addrs": ["a:1", "b:2"]}, "redis"))
    with pytest.raises(ConfigError, match="redis.tls.root_ca"):
        connection_kwargs(Section({"tls": {"root_ca": "/nonexistent/ca.pem"}}, "redis"))
    with pytest.raises(ConfigError, match="host:port"):
        connection_kwargs(Section({"addrs": ["h:notaport"]}, "redis"))


# -- against redis --------------------------------------------------------------------------
async def test_push_consume_ack(raw: aioredis.Redis, stream: str) -> None:
    sink = Collector()
    drv = make_driver(stream, sink)
    j = job(payload=b"\x00\xffbinary")
    await drv.push(j)
    # interop: the entry is the documented envelope, readable with a plain client
    [(_, fields)] = await raw.xrange(stream)
    assert fields[b"rr_id"] == j.id.encode() and fields[b"rr_job"] == b"App\\Job"
    assert fields[b"rr_pipeline"] == b"p" and fields[b"rr_priority"] == b"5"
    assert json.loads(fields[b"rr_headers"]) == {"h": ["1"]}
    assert fields[b"payload"] == b"\x00\xffbinary"
    await drv.run()
    try:
        d = await sink.next()
        ctx = json.loads(d.context())
        assert ctx == {"id": j.id, "job": "App\\Job", "driver": "redis",
                       "headers": {"h": ["1"]}, "pipeline": "p", "queue": stream}
        assert d.job.payload == b"\x00\xffbinary"
        st = await drv.state()
        assert (st.reserved, st.active, st.ready, st.connected) == (1, 0, True, True)
        await d.ack()
        # the ack goes out with the next batch, a few ms later
        await wait_until(lambda: _stream_empty(raw, stream))
    finally:
        await drv.stop()


async def _stream_empty(raw: aioredis.Redis, stream: str) -> bool:
    return await raw.xlen(stream) == 0 and \
        (await raw.xpending(stream, "roadrunner"))["pending"] == 0


async def test_acks_share_round_trips_and_stop_sends_the_last(raw: aioredis.Redis,
                                                             stream: str) -> None:
    sink = Collector()
    drv = make_driver(stream, sink, prefetch=40)
    for i in range(40):
        await drv.push(job(id=f"j{i}"))
    await drv.run()
    try:
        got = [await sink.next() for _ in range(40)]
        for d in got[:39]:
            await d.ack()
        await wait_until(lambda: _pending(raw, stream, 1))
        # 39 acks in at most a handful of XACK round trips, not 39
        assert drv._acks.flushes <= 5
        # the last ack is still buffered when stop begins: stop sends it
        drv._acks.delay = 60.0
        await got[39].ack()
    finally:
        await drv.stop()
    assert await _stream_empty(raw, stream)


async def _pending(raw: aioredis.Redis, stream: str, n: int) -> bool:
    return (await raw.xpending(stream, "roadrunner"))["pending"] == n


async def test_consumes_entries_of_other_producers(raw: aioredis.Redis, stream: str) -> None:
    sink = Collector()
    drv = make_driver(stream, sink)
    await drv.run()
    try:
        await raw.xadd(stream, {"rr_id": "ext-1", "rr_job": "Ext", "rr_headers": '{"k":["v"]}',
                                "rr_priority": "0", "payload": "from-php"})
        await raw.xadd(stream, {"order": "9"})
        a, b = await sink.next(), await sink.next()
        assert (a.job.id, a.job.name, a.job.headers, a.job.payload, a.job.priority) == \
            ("ext-1", "Ext", {"k": ["v"]}, b"from-php", 10)
        assert b.job.name == "deduced_by_rr" and b.job.headers == {"order": ["9"]}
        await a.ack()
        await b.ack()
    finally:
        await drv.stop()


async def test_nack_discard_and_default_nack_redelivers(raw: aioredis.Redis,
                                                        stream: str) -> None:
    sink = Collector()
    drv = make_driver(stream, sink)
    await drv.push(job(id="drop"))
    await drv.push(job(id="crash"))
    await drv.run()
    try:
        first = await sink.next()
        second = await sink.next()
        by_id = {first.job.id: first, second.job.id: second}
        await by_id["drop"].nack(False)
        await by_id["crash"].nack()  # worker crash: requeue_on_fail (default true)
        again = await sink.next()
        assert again.job.id == "crash" and again.job.headers == {"h": ["1"]}
        await again.ack()
        await wait_until(lambda: _stream_empty(raw, stream))
    finally:
        await drv.stop()


async def test_nack_without_requeue_on_fail_discards(raw: aioredis.Redis, stream: str) -> None:
    sink = Collector()
    drv = make_driver(stream, sink, requeue_on_fail="false")
    await drv.push(job())
    await drv.run()
    try:
        await (await sink.next()).nack()
        await wait_until(lambda: _stream_empty(raw, stream))
        st = await drv.state()
        assert (st.active, st.reserved, st.delayed) == (0, 0, 0)
    finally:
        await drv.stop()


async def test_requeue_merges_headers_and_delays(raw: aioredis.Redis, stream: str) -> None:
    sink = Collector()
    drv = make_driver(stream, sink)
    await drv.push(job(id="rq", headers={"keep": ["1"], "attempt": ["1"]}))
    await drv.run()
    try:
        d = await sink.next()
        await d.requeue({"attempt": ["2"]}, 1)
        # the original is acked and exactly one copy exists (delayed set or stream)
        assert (await raw.xpending(stream, "roadrunner"))["pending"] == 0
        assert await raw.zcard(f"{stream}:delayed") + await raw.xlen(stream) == 1
        again = await sink.next()
        assert again.job.id == "rq"
        assert again.job.headers == {"keep": ["1"], "attempt": ["2"]}
        assert again.job.delay == 1
        await again.ack()
        await wait_until(lambda: _stream_empty(raw, stream))
        assert await raw.zcard(f"{stream}:delayed") == 0
    finally:
        await drv.stop()


async def test_delayed_push_counts_then_arrives(raw: aioredis.Redis, stream: str) -> None:
    sink = Collector()
    drv = make_driver(stream, sink)
    await drv.push(job(id="later", delay=2))
    st = await drv.state()
    assert (st.delayed, st.active) == (1, 0)
    assert await raw.xlen(stream) == 0
    await drv.run()
    try:
        d = await sink.next()
        assert d.job.id == "later"
        await d.ack()
    finally:
        await drv.stop()


async def test_two_movers_never_double_move(raw: aioredis.Redis, stream: str) -> None:
    sinks = [Collector(), Collector()]
    drivers = [make_driver(stream, s, consumer=f"c{i}") for i, s in enumerate(sinks)]
    for i in range(40):
        await drivers[i % 2].push(job(id=f"d{i}", delay=1))
    for d in drivers:
        await d.run()
    try:
        seen: list[str] = []

        async def drain(sink: Collector) -> None:
            while True:
                d = await sink.next(timeout=30)
                seen.append(d.job.id)
                await d.ack()

        tasks = [asyncio.create_task(drain(s)) for s in sinks]
        await wait_until(lambda: len(seen) >= 40, timeout=30)
        # every entry the movers added has been consumed and acked: the stream is empty,
        # so no mover added a second copy
        assert await raw.zcard(f"{stream}:delayed") == 0
        assert await raw.xlen(stream) == 0
        assert sorted(seen) == sorted(f"d{i}" for i in range(40))
        for t in tasks:
            t.cancel()
    finally:
        for d in drivers:
            await d.stop()


async def test_pause_resume(raw: aioredis.Redis, stream: str) -> None:
    sink = Collector()
    drv = make_driver(stream, sink)
    with pytest.raises(RRError, match="no active listeners, nothing to pause"):
        await drv.pause()
    await drv.run()
    with pytest.raises(RRError, match="redis listener is already in the active state"):
        await drv.resume()
    await drv.pause()
    try:
        await drv.push(job(id="while-paused"))
        st = await drv.state()
        assert (st.ready, st.active, st.reserved) == (False, 1, 0)
        assert sink.queue.empty()
        await drv.resume()
        d = await sink.next()
        assert d.job.id == "while-paused"
        await d.ack()
    finally:
        await drv.stop()


async def test_prefetch_bounds_unsettled(raw: aioredis.Redis, stream: str) -> None:
    sink = Collector()
    drv = make_driver(stream, sink, prefetch=2)
    for i in range(5):
        await drv.push(job(id=f"j{i}"))
    await drv.run()
    try:
        a, b = await sink.next(), await sink.next()
        st = await drv.state()
        assert st.reserved == 2 and st.active == 3
        await a.ack()
        c = await sink.next()
        assert (await drv.state()).reserved == 2
        for d in (b, c):
            await d.ack()
        for _ in range(2):
            await (await sink.next()).ack()
        assert await raw.xlen(stream) == 0
    finally:
        await drv.stop()


async def test_stop_returns_unsettled_and_guards(raw: aioredis.Redis, stream: str) -> None:
    sink = Collector()
    drv = make_driver(stream, sink)
    await drv.push(job(id="unfinished"))
    await drv.run()
    d = await sink.next()
    await drv.stop()
    # back at the tail, undelivered, pending list empty: the next consumer gets it at once
    assert (await raw.xpending(stream, "roadrunner"))["pending"] == 0
    assert await raw.xlen(stream) == 1
    with pytest.raises(RRError, match="pipeline is probably stopped"):
        await d.ack()
    with pytest.raises(RRError, match="pipeline is probably stopped"):
        await drv.push(job())
    sink2 = Collector()
    drv2 = make_driver(stream, sink2)
    await drv2.run()
    try:
        again = await sink2.next()
        assert again.job.id == "unfinished"
        await again.ack()
    finally:
        await drv2.stop()


async def test_reclaims_from_dead_consumer(raw: aioredis.Redis, stream: str) -> None:
    sink = Collector()
    drv = make_driver(stream, sink, visibility_timeout="500ms")
    await drv.push(job(id="orphan"))
    await raw.xgroup_create(stream, "roadrunner", id="0")
    # a consumer that reads and dies without acking
    got = await raw.xreadgroup("roadrunner", "ghost", {stream: ">"}, count=1)
    assert got[0][1]
    await drv.run()
    try:
        d = await sink.next()
        assert d.job.id == "orphan"
        await d.ack()
        await wait_until(lambda: _pending(raw, stream, 0))
    finally:
        await drv.stop()


async def test_long_job_is_not_reclaimed_from_live_consumer(raw: aioredis.Redis,
                                                             stream: str) -> None:
    sink_a, sink_b = Collector(), Collector()
    a = make_driver(stream, sink_a, consumer="a", visibility_timeout="300ms")
    b = make_driver(stream, sink_b, consumer="b", visibility_timeout="300ms")
    await a.push(job(id="long"))
    await a.run()
    d = await sink_a.next()
    await b.run()
    try:
        # b's reclaimer runs many times over while a still works on the job
        for _ in range(10):
            await asyncio.sleep(0.15)
            pending = await raw.xpending_range(stream, "roadrunner", "-", "+", 10)
            assert [p["consumer"] for p in pending] == [b"a"]
        assert sink_b.queue.empty()
        await d.ack()
    finally:
        await a.stop()
        await b.stop()


async def test_auto_ack_removes_on_receipt(raw: aioredis.Redis, stream: str) -> None:
    sink = Collector()
    drv = make_driver(stream, sink, requeue_on_fail="false")
    await drv.push(job(id="auto", auto_ack=True))
    await drv.run()
    try:
        d = await sink.next()
        assert (await raw.xpending(stream, "roadrunner"))["pending"] == 0
        assert await raw.xlen(stream) == 0
        await d.nack()  # a no-op on the broker
        assert await raw.xlen(stream) == 0
    finally:
        await drv.stop()


async def test_delete_stream_on_stop(raw: aioredis.Redis, stream: str) -> None:
    drv = make_driver(stream, Collector(), delete_stream_on_stop="true")
    await drv.push(job())
    await drv.push(job(delay=60))
    await drv.stop()
    assert await raw.exists(stream, f"{stream}:delayed") == 0


async def test_unreachable_redis_is_reported_not_fatal(stream: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    drv = RedisDriver(PipelineOptions("dead", "redis", {"stream": stream}, global_section=Section(
        {"addrs": [f"127.0.0.1:{dead_port}"], "dial_timeout": "200ms"}, "redis")), Collector())
    # a push keeps retrying while redis is away (the jobs core bounds it by jobs.timeout)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(drv.push(job()), 1.0)
    assert (await drv.state()).connected is False
    await drv.run()  # not fatal: it keeps retrying
    st = await drv.state()
    assert st.connected is False and st.ready is True and st.error
    await drv.stop()


async def test_connection_cut_and_restore(raw: aioredis.Redis, stream: str) -> None:
    from tests.drivers.proxy import TCPProxy

    with TCPProxy(REDIS_HOST, REDIS_PORT) as proxy:
        sink = Collector()
        drv = RedisDriver(PipelineOptions("cut", "redis", {
            "stream": stream, "block": "200ms", "visibility_timeout": "500ms"},
            global_section=Section({"addrs": [proxy.address], "dial_timeout": "300ms",
                                    "read_timeout": "1s"}, "redis")), sink)
        await drv.push(job(id="in-hand"))
        await drv.run()
        try:
            d = await sink.next()
            await asyncio.to_thread(proxy.cut)
            # accepted into the ack batch; its XACK fails while redis is unreachable and
            # the entry stays pending there, so nothing is lost whichever comes first
            # after the restore: the retried XACK, or the reclaim (a duplicate run)
            await d.ack()
            await wait_until(lambda: _disconnected(drv))
            # a producer that reaches redis directly keeps working during the outage
            await raw.xadd(stream, {"rr_id": "during-outage", "rr_job": "J", "payload": "x"})
            await asyncio.to_thread(proxy.restore)
            seen: list[str] = []
            while "during-outage" not in seen:
                again = await sink.next(timeout=20)
                seen.append(again.job.id)
                await again.ack()
            assert set(seen) <= {"in-hand", "during-outage"} and len(seen) <= 2
            await wait_until(lambda: _settled_and_connected(drv))
        finally:
            await drv.stop()


async def _settled_and_connected(drv: RedisDriver) -> bool:
    st = await drv.state()
    return st.connected and st.reserved == 0 and st.active == 0


async def _disconnected(drv: RedisDriver) -> bool:
    return not (await drv.state()).connected
