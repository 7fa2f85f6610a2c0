"""The AMQP driver against a real RabbitMQ, below the jobs core: push -> consume ->
settle -> broker state, wire encoding both ways, lifecycle errors, shutdown, redial."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import aio_pika
import pamqp.encode
import pytest

from rr.config import Section
from rr.drivers.amqp import AMQPDriver
from rr.drivers.amqp_codec import Int32, Int64, envelope, job_from_message
from rr.errors import ConfigError, RRError
from rr.pipeline.driver import PipelineOptions
from rr.pipeline.job import Job
from tests.drivers.proxy import TCPProxy
from tests.drivers.sink import Inbox

pytestmark = pytest.mark.broker("rabbitmq")


class Collector(Inbox):
    def __init__(self, limit: int | None = None) -> None:
        super().__init__(limit, timeout=20.0)


def uniq(prefix: str = "t") -> str:
    return f"rr-{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def make(rabbitmq_url: str) -> AsyncIterator[Callable[..., AMQPDriver]]:
    made: list[AMQPDriver] = []
    queues: list[str] = []

    def factory(sink: Any = None, addr: str | None = None, declared: bool = False,
                **options: Any) -> AMQPDriver:
        name = options.pop("name", uniq("p"))
        priority = int(options.pop("priority", 10))
        options.setdefault("queue", uniq("q"))
        options.setdefault("routing_key", options["queue"])
        options.setdefault("exchange", uniq("x"))
        queues.append(str(options["queue"]))
        if declared:
            options = {k: (("true" if v else "false") if isinstance(v, bool) else str(v))
                       for k, v in options.items()}
        opts = PipelineOptions(name, "amqp", options, declared=declared, priority=priority,
                               global_section=Section({"addr": addr or rabbitmq_url}, "amqp"))
        driver = AMQPDriver(opts, sink if sink is not None else Collector())
        made.append(driver)
        return driver

    yield factory
    for driver in made:
        await driver.stop()
    conn = await aio_pika.connect(rabbitmq_url)
    async with conn:
        for q in queues:
            ch = await conn.channel()
            with contextlib.suppress(Exception):  # never declared
                await ch.queue_delete(q)


def job(pipeline: str, payload: bytes = b"hello", **kw: Any) -> Job:
    kw.setdefault("id", str(uuid.uuid4()))
    kw.setdefault("name", "App\\Job")
    return Job(payload=payload, pipeline=pipeline, priority=kw.pop("priority", 10), **kw)


async def count(url: str, queue: str) -> int:
    conn = await aio_pika.connect(url)
    async with conn:
        ch = await conn.channel()
        q = await ch.declare_queue(queue, passive=True)
        return int(q.declaration_result.message_count or 0)


async def eventually(pred: Callable[[], Any], timeout: float = 20.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await pred()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.1)


# -- encoding ----------------------------------------------------------------------------
def test_envelope_field_types_match_roadrunner() -> None:
    j = Job(id="a1", name="App\\Job", headers={"k": ["v"]}, delay=5, priority=3,
            auto_ack=True)
    table = pamqp.encode.field_table(envelope(j, "emails"))
    assert b"\x08rr_delayI\x00\x00\x00\x05" in table
    assert b"\x0brr_priorityl" + (3).to_bytes(8, "big") in table
    assert b"\x0arr_headersx" in table
    assert b"\x0brr_auto_ackt\x01" in table
    assert b"\x05rr_idS\x00\x00\x00\x02a1" in table
    assert b"\x0brr_pipelineS\x00\x00\x00\x06emails" in table
    # plain ints keep pamqp's smallest-type choice (nothing else is affected)
    assert pamqp.encode.field_table({"n": 5}) == pamqp.encode.field_table({"n": 5})
    assert b"b\x05" in pamqp.encode.field_table({"n": 5})
    assert isinstance(Int32(1), int) and isinstance(Int64(1), int)


def test_foreign_headers_are_stringified_and_rr_keys_stripped() -> None:
    import datetime as dt
    import decimal

    j = job_from_message({
        "plain": "x", "num": 7, "flt": 1.5, "yes": True, "blob": b"raw",
        "arr": ["a", 2], "nested": {"inner": "v"}, "dec": decimal.Decimal("1.25"),
        "ts": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC), "void": None,
        "rr_headers": bytearray(b'{"h":["1","2"]}'), "rr_priority": 4, "rr_delay": 2,
        "rr_auto_ack": True, "rr_id": "id-1", "rr_job": "J", "rr_pipeline": "other",
    }, b"body", "mine", 10)
    assert (j.id, j.name, j.pipeline, j.priority, j.delay, j.auto_ack) == \
        ("id-1", "J", "other", 4, 2, True)
    assert j.headers == {"plain": ["x"], "num": ["7"], "flt": ["1.50000"], "yes": ["true"],
                         "blob": ["raw"], "arr": ["a", "2"], "inner": ["v"], "dec": ["1.25"],
                         "ts": ["2024-01-02T03:04:05Z"], "h": ["1", "2"]}
    bare = job_from_message(None, b"x", "mine", 7)
    assert bare.name == "deduced_by_rr" and bare.pipeline == "mine" and bare.priority == 7
    assert len(bare.id) == 36


def test_options_validation_and_declare_strings() -> None:
    def opts(declared: bool = False, **o: Any) -> PipelineOptions:
        return PipelineOptions("p", "amqp", o, declared=declared, global_section=Section(
            {"addr": "amqp://guest:guest@127.0.0.1:5672/"}, "amqp"))

    with pytest.raises(ConfigError, match="^jobs.pipelines.p: no global amqp configuration"):
        AMQPDriver(PipelineOptions("p", "amqp", {"queue": "q"}), Collector())
    with pytest.raises(ConfigError, match="invalid exchange type"):
        AMQPDriver(opts(exchange_type="bogus"), Collector())
    d = AMQPDriver(opts(True, exchange_type="topics", queue_headers="[]", prefetch="100",
                        durable="true", exclusive="yes"), Collector())
    assert d.cfg.exchange_type == "topic" and d.cfg.queue_headers == {}
    assert d.cfg.prefetch == 100 and d.cfg.durable and not d.cfg.exclusive
    assert d.cfg.consumer_id.startswith("roadrunner-")
    assert d.cfg.addr == "amqp://guest:guest@127.0.0.1:5672/"
    d2 = AMQPDriver(opts(queue_headers={"x-queue-type": "quorum"}, redial_timeout="2m"),
                    Collector())
    assert d2.cfg.queue_headers == {"x-queue-type": "quorum"} and d2.cfg.redial_timeout == 120
    with pytest.raises(ConfigError, match="amqp.tls.key"):
        AMQPDriver(PipelineOptions("p", "amqp", {}, global_section=Section(
            {"tls": {"key": "/nope.key", "cert": "/nope.crt"}}, "amqp")), Collector())
    a = d.cfg.delay_queue_name(1000, "p1", "rk")
    assert a.startswith("delayed-1000.amqp.default.") and a != d.cfg.delay_queue_name(
        1000, "p2", "rk")


# -- data path ---------------------------------------------------------------------------
async def test_push_consume_ack(make: Callable[..., AMQPDriver], rabbitmq_url: str) -> None:
    sink = Collector()
    d = make(sink)
    sent = job(d.pipeline, b"\x00binary\xff", headers={"a": ["1", "2"]}, priority=3)
    await d.push(sent)
    assert (await d.state()).active == 1
    await d.run()
    got = await sink.next()
    assert (got.job.id, got.job.name, got.job.payload, got.job.headers, got.job.priority) == \
        (sent.id, sent.name, sent.payload, {"a": ["1", "2"]}, 3)
    ctx = json.loads(got.context())
    assert ctx == {"id": sent.id, "job": "App\\Job", "driver": "amqp",
                   "headers": {"a": ["1", "2"]}, "pipeline": d.pipeline, "queue": d.cfg.queue}
    await got.ack()
    with pytest.raises(RRError):
        await got.ack()
    st = await d.state()
    assert (st.active, st.ready, st.connected, st.queue) == (0, True, True, d.cfg.queue)
    assert await count(rabbitmq_url, d.cfg.queue) == 0


async def test_published_message_is_roadrunner_encoded(make: Callable[..., AMQPDriver],
                                                       rabbitmq_url: str) -> None:
    d = make()
    await d.push(job(d.pipeline, b"payload", id="id-42", headers={"h": ["v"]},
                     priority=7, auto_ack=False))
    conn = await aio_pika.connect(rabbitmq_url)
    async with conn:
        ch = await conn.channel()
        q = await ch.declare_queue(d.cfg.queue, passive=True)
        msg = await q.get(timeout=10)
        assert msg is not None
        await msg.ack()
    assert msg.body == b"payload"
    assert msg.content_type == "application/octet-stream"
    assert msg.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert msg.timestamp is not None
    assert msg.headers["rr_id"] == "id-42" and msg.headers["rr_job"] == "App\\Job"
    assert msg.headers["rr_pipeline"] == d.pipeline
    assert json.loads(bytes(msg.headers["rr_headers"])) == {"h": ["v"]}
    assert isinstance(msg.headers["rr_headers"], (bytes, bytearray))
    assert msg.headers["rr_priority"] == 7 and msg.headers["rr_delay"] == 0
    assert msg.headers["rr_auto_ack"] is False
    assert set(msg.headers) == {"rr_id", "rr_job", "rr_pipeline", "rr_headers", "rr_delay",
                                "rr_priority", "rr_auto_ack"}


async def test_consumes_roadrunner_and_foreign_messages(make: Callable[..., AMQPDriver],
                                                        rabbitmq_url: str) -> None:
    sink = Collector()
    d = make(sink, priority=5)
    await d.run()
    conn = await aio_pika.connect(rabbitmq_url)
    async with conn:
        ch = await conn.channel()
        ex = await ch.get_exchange(d.cfg.exchange)
        # exactly what RoadRunner writes: rr_headers as byte array, fixed-width ints
        await ex.publish(aio_pika.Message(b"from-rr", headers={
            "rr_id": "rr-1", "rr_job": "RR\\Job", "rr_pipeline": d.pipeline,
            "rr_headers": bytearray(b'{"tenant":["42"]}'), "rr_delay": Int32(0),
            "rr_priority": Int64(2), "rr_auto_ack": False}), routing_key=d.cfg.routing_key)
        await ex.publish(aio_pika.Message(b"foreign", headers={"x-app": "legacy", "n": 3}),
                         routing_key=d.cfg.routing_key)
    first, second = await sink.next(), await sink.next()
    assert (first.job.id, first.job.name, first.job.priority, first.job.headers) == \
        ("rr-1", "RR\\Job", 2, {"tenant": ["42"]})
    assert second.job.name == "deduced_by_rr" and second.job.priority == 5
    assert second.job.headers == {"x-app": ["legacy"], "n": ["3"]}
    assert second.job.pipeline == d.pipeline
    await first.ack()
    await second.ack()


async def test_nack_and_requeue_semantics(make: Callable[..., AMQPDriver],
                                          rabbitmq_url: str) -> None:
    sink = Collector()
    d = make(sink)
    await d.run()
    await d.push(job(d.pipeline, b"1"))
    first = await sink.next()
    await first.nack(True)                    # redeliver the same message
    again = await sink.next()
    assert again.job.id == first.job.id and again.message.redelivered  # type: ignore[attr-defined]
    await again.nack(False)                   # discard
    await d.push(job(d.pipeline, b"2"))
    plain = await sink.next()
    await plain.nack()                        # requeue_on_fail=false: dropped
    await d.push(job(d.pipeline, b"3", headers={"keep": ["k"], "swap": ["old"]}))
    orig = await sink.next()
    await orig.requeue({"swap": ["new"], "attempt": ["2"]}, 0)
    copy = await sink.next()
    assert copy.job.id == orig.job.id and copy.job.payload == b"3"
    assert copy.job.headers == {"keep": ["k"], "swap": ["new"], "attempt": ["2"]}
    await copy.ack()
    assert sink.queue.empty()
    assert await count(rabbitmq_url, d.cfg.queue) == 0


async def test_requeue_on_fail_redelivers_plain_nack(make: Callable[..., AMQPDriver]) -> None:
    sink = Collector()
    d = make(sink, requeue_on_fail=True)
    await d.run()
    await d.push(job(d.pipeline))
    first = await sink.next()
    await first.nack()
    again = await sink.next()
    assert again.job.id == first.job.id
    await again.ack()


async def test_delay_and_delayed_requeue(make: Callable[..., AMQPDriver]) -> None:
    sink = Collector()
    d = make(sink)
    await d.run()
    await d.push(job(d.pipeline, b"later", delay=1))
    assert (await d.state()).delayed == 1
    got = await sink.next()
    assert got.job.payload == b"later" and got.job.delay == 1
    await got.nack(True, 1)                   # NackWithOptions(true, d>0) = delayed copy
    again = await sink.next()
    assert again.job.id == got.job.id
    await again.ack()


async def test_two_pipelines_sharing_a_delay_queue_name(make: Callable[..., AMQPDriver]) -> None:
    """RoadRunner would declare one delay queue with two different dead-letter keys."""
    exchange, queue = uniq("x"), uniq("q")
    sink_a, sink_b = Collector(), Collector()
    a = make(sink_a, exchange=exchange, queue=queue, routing_key="ka")
    b = make(sink_b, exchange=exchange, queue=uniq("q"), routing_key="kb")
    await b.run()
    push_only = make(Collector(), exchange=exchange, queue="", routing_key="kb")
    await a.push(job(a.pipeline, b"to-a", delay=1))
    await push_only.push(job(push_only.pipeline, b"to-b", delay=1))
    await a.run()
    got_a, got_b = await sink_a.next(), await sink_b.next()
    assert (got_a.job.payload, got_b.job.payload) == (b"to-a", b"to-b")
    await got_a.ack()
    await got_b.ack()


async def test_routing_key_header_reroutes(make: Callable[..., AMQPDriver]) -> None:
    exchange = uniq("x")
    sink = Collector()
    target = make(sink, exchange=exchange, routing_key="target")
    await target.run()
    source = make(Collector(), exchange=exchange, queue="", routing_key="nowhere")
    await source.push(job(source.pipeline, b"routed", headers={"x-routing-key": ["target"],
                                                                "other": ["1"]}))
    got = await sink.next()
    assert got.job.payload == b"routed" and got.job.headers == {"other": ["1"]}
    await got.ack()
    empty = make(Collector(), exchange=exchange, queue="", routing_key="")
    with pytest.raises(RRError, match="empty routing key"):
        await empty.push(job(empty.pipeline))


async def test_auto_ack_removes_on_receipt(make: Callable[..., AMQPDriver],
                                           rabbitmq_url: str) -> None:
    sink = Collector()
    d = make(sink)
    await d.run()
    await d.push(job(d.pipeline, auto_ack=True))
    got = await sink.next()
    await got.nack(True)                      # a no-op under auto_ack
    await d.stop()
    assert await count(rabbitmq_url, d.cfg.queue) == 0


async def test_lifecycle_errors(make: Callable[..., AMQPDriver]) -> None:
    push_only = make(queue="")
    with pytest.raises(RRError, match="empty queue name"):
        await push_only.run()
    d = make()
    with pytest.raises(RRError, match="no active listeners, nothing to pause"):
        await d.pause()
    await d.run()
    with pytest.raises(RRError, match="amqp listener is already in the active state"):
        await d.resume()


async def test_pause_keeps_jobs_on_the_broker(make: Callable[..., AMQPDriver]) -> None:
    sink = Collector()
    d = make(sink)
    await d.run()
    await d.pause()
    assert not (await d.state()).ready
    await d.push(job(d.pipeline, b"while-paused"))
    assert (await d.state()).active == 1
    assert sink.queue.empty()
    await d.resume()
    got = await sink.next()
    assert got.job.payload == b"while-paused"
    await got.ack()


async def test_stop_returns_prefetched_and_rejects_late_settlement(
        make: Callable[..., AMQPDriver], rabbitmq_url: str) -> None:
    taken = Collector(limit=1)               # the core's queue is full after one job
    d = make(taken, prefetch=3, durable=True)
    for i in range(6):
        await d.push(job(d.pipeline, str(i).encode()))
    await d.run()
    first = await taken.next()           # "in a worker"
    taken.accept = False                 # the core's queue is full from here on
    await eventually(lambda: _prefetched(d, 2))
    await d.stop()
    with pytest.raises(RRError, match="pipeline is probably stopped"):
        await first.ack()
    assert await count(rabbitmq_url, d.cfg.queue) == 6


async def _prefetched(d: AMQPDriver, n: int) -> bool:
    return d._buffer.qsize() + (d._handing is not None) >= n


async def test_declared_pipeline_queue_headers(make: Callable[..., AMQPDriver],
                                               rabbitmq_url: str) -> None:
    sink = Collector()
    d = make(sink, declared=True, queue_headers='{"x-max-priority": 5}', durable=True,
             delete_queue_on_stop=True)
    await d.run()
    await d.push(job(d.pipeline))
    await (await sink.next()).ack()
    await d.stop()
    conn = await aio_pika.connect(rabbitmq_url)
    async with conn:
        ch = await conn.channel()
        with pytest.raises(aio_pika.exceptions.ChannelNotFoundEntity):
            await ch.declare_queue(d.cfg.queue, passive=True)


async def test_redial_after_connection_cut(make: Callable[..., AMQPDriver],
                                           rabbitmq_port: int) -> None:
    with TCPProxy("127.0.0.1", rabbitmq_port) as proxy:
        sink = Collector()
        d = make(sink, addr=f"amqp://guest:guest@{proxy.address}/", durable=True)
        await d.run()
        await d.push(job(d.pipeline, b"before"))
        held = await sink.next()
        proxy.cut()
        await eventually(lambda: _disconnected(d))
        with pytest.raises(RRError):
            await held.ack()                 # its channel is gone: the broker redelivers
        pushing = asyncio.create_task(d.push(job(d.pipeline, b"during")))
        await asyncio.sleep(0.5)
        assert not pushing.done()            # waits for the connection, does not fail
        proxy.restore()
        await asyncio.wait_for(pushing, 60)
        payloads = set()
        for _ in range(2):
            got = await sink.next(60)
            payloads.add(got.job.payload)
            await got.ack()
        assert payloads == {b"before", b"during"}
        st = await d.state()
        assert st.connected and st.ready


async def _disconnected(d: AMQPDriver) -> bool:
    return not (await d.state()).connected
