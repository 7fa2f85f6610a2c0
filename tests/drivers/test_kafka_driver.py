"""Kafka driver against a real Kafka-protocol broker (Tansu), through the driver contract."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from rr.config import Section
from rr.drivers.kafka import KafkaDriver
from rr.errors import ConfigError, RRError
from rr.pipeline.driver import PipelineOptions
from rr.pipeline.job import Job
from tests.drivers.services import kafka_brokers  # noqa: F401 - fixture
from tests.drivers.sink import Inbox

pytestmark = pytest.mark.timeout(90)


async def make_topic(brokers: str, partitions: int = 1) -> str:
    topic = f"rr-test-{uuid.uuid4().hex[:12]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=brokers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()
    return topic


DriverFactory = Callable[..., KafkaDriver]


@pytest.fixture
async def make_driver(kafka_brokers: str) -> AsyncIterator[DriverFactory]:  # noqa: F811
    made: list[KafkaDriver] = []

    def factory(config: dict[str, Any], inbox: Inbox, name: str = "",
                declared: bool = False) -> KafkaDriver:
        opts = PipelineOptions(name or f"p-{uuid.uuid4().hex[:8]}", "kafka", config,
                               declared=declared, priority=int(config.get("priority", 10)),
                               global_section=Section({"brokers": [kafka_brokers]}, "kafka"))
        driver = KafkaDriver(opts, inbox)
        made.append(driver)
        return driver

    yield factory
    for d in made:
        await d.stop()


def job(pipeline: str, n: int = 0, **kw: Any) -> Job:
    return Job(id=str(uuid.uuid4()), name="App\\Job", payload=json.dumps({"n": n}).encode(),
               headers=kw.pop("headers", {"tenant": ["42"]}), pipeline=pipeline, **kw)


def group_config(topic: str) -> dict[str, Any]:
    return {"consumer_options": {"topics": [topic]},
            "group_options": {"group_id": f"g-{uuid.uuid4().hex[:8]}"}}


async def committed(brokers: str, group: str, topic: str) -> int | None:
    from aiokafka.structs import TopicPartition

    c = AIOKafkaConsumer(bootstrap_servers=brokers, group_id=group, enable_auto_commit=False)
    await c.start()
    try:
        return await c.committed(TopicPartition(topic, 0))
    finally:
        await c.stop()


async def test_push_consume_context_and_commit(make_driver: DriverFactory,
                                               kafka_brokers: str) -> None:  # noqa: F811
    topic = await make_topic(kafka_brokers)
    inbox = Inbox()
    cfg = group_config(topic)
    driver = make_driver(cfg, inbox)
    sent = job(driver.pipeline, 1, priority=3)
    await driver.push(sent)
    await driver.run()
    d = await inbox.next()
    assert (d.job.id, d.job.name, d.job.payload) == (sent.id, sent.name, sent.payload)
    assert d.job.headers == {"tenant": ["42"]}
    assert d.job.priority == 3
    ctx = json.loads(d.context())
    assert ctx == {"id": sent.id, "job": "App\\Job", "driver": "kafka",
                   "headers": {"tenant": ["42"]}, "pipeline": driver.pipeline,
                   "queue": topic, "topic": topic, "partition": 0, "offset": 0}
    assert (await driver.state()).ready
    await d.ack()
    with pytest.raises(RRError):
        await d.ack()
    group = cfg["group_options"]["group_id"]
    for _ in range(100):
        if await committed(kafka_brokers, group, topic) == 1:
            break
        await asyncio.sleep(0.1)
    assert await committed(kafka_brokers, group, topic) == 1
    await driver.stop()
    with pytest.raises(RRError, match="pipeline is probably stopped"):
        await d.ack()


async def test_unfinished_record_is_redelivered_after_restart(
        make_driver: DriverFactory, kafka_brokers: str) -> None:  # noqa: F811
    topic = await make_topic(kafka_brokers)
    cfg = group_config(topic)
    inbox = Inbox()
    first = make_driver(cfg, inbox)
    jobs = [job(first.pipeline, n) for n in range(3)]
    for j in jobs:
        await first.push(j)
    await first.run()
    got = [await inbox.next() for _ in range(3)]
    assert [d.job.id for d in got] == [j.id for j in jobs]
    # the 2nd and 3rd finish, the 1st is still "running" when rr goes away
    await got[1].ack()
    await got[2].ack()
    await first.stop()
    assert await committed(kafka_brokers, cfg["group_options"]["group_id"], topic) in (None, 0)

    inbox2 = Inbox()
    second = make_driver(cfg, inbox2, name=first.pipeline)
    await second.run()
    again = await inbox2.next()
    assert again.job.id == jobs[0].id


async def test_nack_redelivers_and_discard_does_not(make_driver: DriverFactory,
                                                    kafka_brokers: str) -> None:  # noqa: F811
    topic = await make_topic(kafka_brokers)
    inbox = Inbox()
    driver = make_driver(group_config(topic), inbox)
    crashed, discarded = job(driver.pipeline, 1), job(driver.pipeline, 2)
    await driver.push(crashed)
    await driver.push(discarded)
    await driver.run()
    a, b = await inbox.next(), await inbox.next()
    await a.nack()                 # worker crash: redeliver
    await b.nack(requeue=False)    # explicit discard
    again = await inbox.next()
    assert again.job.id == crashed.id and again.job.payload == crashed.payload
    assert json.loads(again.context())["offset"] == 2
    await again.ack()
    assert await inbox.nothing_for(2)


async def test_requeue_merges_headers(make_driver: DriverFactory,
                                      kafka_brokers: str) -> None:  # noqa: F811
    topic = await make_topic(kafka_brokers)
    inbox = Inbox()
    driver = make_driver(group_config(topic), inbox)
    sent = job(driver.pipeline, headers={"a": ["1"], "b": ["x"]})
    await driver.push(sent)
    await driver.run()
    d = await inbox.next()
    await d.requeue({"a": ["2"], "c": ["new"]}, 5)
    copy = await inbox.next()
    assert copy.job.id == sent.id
    assert copy.job.headers == {"a": ["2"], "b": ["x"], "c": ["new"]}
    await copy.ack()


async def test_pause_resume(make_driver: DriverFactory, kafka_brokers: str) -> None:  # noqa: F811
    topic = await make_topic(kafka_brokers)
    inbox = Inbox()
    driver = make_driver(group_config(topic), inbox)
    with pytest.raises(RRError, match="no active listeners"):
        await driver.pause()
    await driver.run()
    with pytest.raises(RRError, match="kafka listener is already in the active state"):
        await driver.resume()
    await driver.push(job(driver.pipeline, 1))
    await (await inbox.next()).ack()
    await driver.pause()
    assert not (await driver.state()).ready
    later = job(driver.pipeline, 2)
    await driver.push(later)
    assert await inbox.nothing_for(2)
    await driver.resume()
    d = await inbox.next()
    assert d.job.id == later.id
    await d.ack()


async def test_interop_with_roadrunner_encoding(make_driver: DriverFactory,
                                                kafka_brokers: str) -> None:  # noqa: F811
    topic = await make_topic(kafka_brokers)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_brokers, enable_idempotence=False)
    await producer.start()
    try:
        # as RoadRunner produces it
        await producer.send_and_wait(topic, b"body", key=b"rr-id-1", headers=[
            ("x-trace", b"t1"), ("rr_job", b"App\\Ping"), ("rr_pipeline", b"origin"),
            ("rr_priority", (7).to_bytes(8, "little"))])
        # a foreign producer: no key, no rr_* headers
        await producer.send_and_wait(topic, b"raw", headers=[("h", b"v")])
    finally:
        await producer.stop()
    inbox = Inbox()
    driver = make_driver({"priority": 4, "consumer_options": {"topics": [topic]}}, inbox)
    await driver.run()
    rr_job, foreign = await inbox.next(), await inbox.next()
    assert (rr_job.job.id, rr_job.job.name, rr_job.job.pipeline, rr_job.job.priority) == \
        ("rr-id-1", "App\\Ping", "origin", 7)
    assert rr_job.job.headers == {"x-trace": ["t1"]}
    assert foreign.job.name == "deduced_by_rr"
    assert foreign.job.id  # a fresh id rather than RoadRunner's empty one
    assert foreign.job.priority == 4 and foreign.job.pipeline == driver.pipeline
    assert foreign.job.headers == {"h": ["v"]}

    # what we produce is RoadRunner's encoding
    sent = job(driver.pipeline, 9, priority=2, headers={"k": ["first", "second"]})
    await driver.push(sent)
    raw = AIOKafkaConsumer(topic, bootstrap_servers=kafka_brokers,
                           auto_offset_reset="earliest", enable_auto_commit=False)
    await raw.start()
    try:
        records = []
        while len(records) < 3:
            for recs in (await raw.getmany(timeout_ms=1000)).values():
                records.extend(recs)
    finally:
        await raw.stop()
    record = records[2]
    assert record.key == sent.id.encode() and record.value == sent.payload
    assert list(record.headers) == [("k", b"first"), ("k", b"second"), ("rr_job", b"App\\Job"),
                                    ("rr_pipeline", driver.pipeline.encode()),
                                    ("rr_priority", b"\x02" + b"\x00" * 7)]


async def test_push_defaults_to_pipeline_topic_and_auto_create(
        make_driver: DriverFactory) -> None:
    topic = f"rr-auto-{uuid.uuid4().hex[:12]}"
    inbox = Inbox()
    driver = make_driver({"auto_create_topics_enable": "true", "consumer_options":
                          json.dumps({"topics": [topic]})}, inbox, declared=True)
    await driver.push(job(driver.pipeline))
    await driver.run()
    d = await inbox.next()
    assert json.loads(d.context())["topic"] == topic


def test_config_errors(kafka_brokers: str) -> None:  # noqa: F811
    def build(cfg: dict[str, Any], section: dict[str, Any] | None = None) -> None:
        KafkaDriver(PipelineOptions("p", "kafka", cfg, global_section=Section(
            section if section is not None else {"brokers": [kafka_brokers]}, "kafka")),
            Inbox())

    with pytest.raises(ConfigError, match="no group ID"):
        build({"group_options": {"instance_id": "x"}})
    with pytest.raises(ConfigError, match="topics and consume partitions"):
        build({"consumer_options": {"consumer_offset": {"type": "AtEnd"}}})
    with pytest.raises(ConfigError, match="required_acks"):
        build({"producer_options": {"required_acks": "Most"}})
    with pytest.raises(ConfigError, match="kafka.brokers"):
        build({}, {})
    with pytest.raises(ConfigError, match="aws_msk_iam"):
        build({}, {"brokers": ["x:1"], "sasl": {"mechanism": "aws_msk_iam"}})
    # Declare form: JSON text, durations as nanoseconds or Go strings
    build({"producer_options": '{"request_timeout":"10s","required_acks":"LeaderAck"}',
           "group_options": '{"group_id":"g"}', "consumer_options": '{"topics":["t"]}'})
    build({"producer_options": '{"request_timeout":10000000000}'})


async def test_connected_state_follows_the_broker(tmp_path: Any) -> None:
    from tests.drivers.services import PrivateTansu
    from tests.helpers import free_port

    port = free_port()
    tansu = PrivateTansu(port, port, tmp_path).start()
    opts = PipelineOptions("p-conn", "kafka", {}, global_section=Section(
        {"brokers": [f"127.0.0.1:{port}"]}, "kafka"))
    driver = KafkaDriver(opts, Inbox())
    try:
        await driver.push(Job(id="1", name="n", topic=await make_topic(f"127.0.0.1:{port}")))
        assert (await driver.state()).connected
        tansu.stop()
        for _ in range(200):
            if not (await driver.state()).connected:
                break
            await asyncio.sleep(0.1)
        assert not (await driver.state()).connected
        tansu = PrivateTansu(port, port, tmp_path).start()
        for _ in range(300):
            if (await driver.state()).connected:
                break
            await asyncio.sleep(0.1)
        assert (await driver.state()).connected
    finally:
        await driver.stop()
        tansu.stop()


async def test_dead_letters_replay_markers_and_commit(make_driver: DriverFactory,
                                                      kafka_brokers: str) -> None:  # noqa: F811
    """Listing commits nothing; forgetting a record writes a marker that hides it and
    commits only the finished prefix; a consumer of the topic settles markers unseen."""
    topic = await make_topic(kafka_brokers)
    cfg = group_config(topic)
    group = cfg["group_options"]["group_id"]
    driver = make_driver(cfg, Inbox())
    sent = [job(driver.pipeline, n) for n in range(3)]
    for j in sent:
        await driver.push(j)
    listed = await driver.dead_letters(None, 0)
    assert [j.id for j, _ in listed] == [j.id for j in sent]
    assert [j.id for j, _ in await driver.dead_letters(1, 1)] == [sent[1].id]
    await driver.dead_letters_done()
    assert await committed(kafka_brokers, group, topic) is None

    listed = await driver.dead_letters(None, 0)
    await driver.forget(listed[1][1])        # the middle one: nothing to commit yet
    assert await committed(kafka_brokers, group, topic) is None
    await driver.forget(listed[0][1])        # now 0 and 1 are done: commit past them
    assert await committed(kafka_brokers, group, topic) == 2
    await driver.dead_letters_done()
    assert [j.id for j, _ in await driver.dead_letters(None, 0)] == [sent[2].id]
    await driver.dead_letters_done()

    # the markers sit after record 2; a consumer of the pipeline gets record 2 only
    inbox = Inbox()
    consumer = make_driver(cfg, inbox)
    await consumer.run()
    d = await inbox.next()
    assert d.job.id == sent[2].id
    await d.ack()
    assert await inbox.nothing_for(1.0)
    with pytest.raises(RRError, match="not listed"):
        await driver.forget((topic, 0, 0))


async def test_dead_letters_refuse_a_topic_pattern(make_driver: DriverFactory) -> None:
    driver = make_driver({"consumer_options": {"topics": ["rr-.*"], "consume_regexp": True},
                          "group_options": {"group_id": "g"}}, Inbox())
    with pytest.raises(RRError, match="plain topic names"):
        await driver.dead_letters(None, 0)
