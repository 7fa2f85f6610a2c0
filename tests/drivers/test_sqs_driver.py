"""SQS driver against a real SQS-compatible server (moto_server), through the driver
contract. Every test uses its own queue."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiobotocore.session import get_session

from rr.config import Section
from rr.drivers.sqs import SQSDriver
from rr.errors import ConfigError, RRError
from rr.pipeline.driver import PipelineOptions
from rr.pipeline.job import Job
from tests.drivers.services import sqs_endpoint  # noqa: F401 - fixture
from tests.drivers.sink import Inbox

pytestmark = pytest.mark.timeout(90)


def section(endpoint: str) -> dict[str, Any]:
    return {"key": "test", "secret": "test", "region": "us-east-1", "endpoint": endpoint}


DriverFactory = Callable[..., SQSDriver]


@pytest.fixture
async def make_driver(sqs_endpoint: str) -> AsyncIterator[DriverFactory]:  # noqa: F811
    made: list[SQSDriver] = []

    def factory(config: dict[str, Any], inbox: Inbox, declared: bool = False) -> SQSDriver:
        config.setdefault("queue", f"rr-{uuid.uuid4().hex[:12]}")
        opts = PipelineOptions(f"p-{uuid.uuid4().hex[:8]}", "sqs", config, declared=declared,
                               priority=int(config.get("priority", 10)),
                               global_section=Section(section(sqs_endpoint), "sqs"))
        driver = SQSDriver(opts, inbox)
        made.append(driver)
        return driver

    yield factory
    for d in made:
        await d.stop()


class Raw:
    """A plain aiobotocore client, for looking at the queue behind the driver's back."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    async def __aenter__(self) -> Any:
        self._cm = get_session().create_client(
            "sqs", region_name="us-east-1", endpoint_url=self.endpoint,
            aws_access_key_id="test", aws_secret_access_key="test")
        return await self._cm.__aenter__()

    async def __aexit__(self, *exc: Any) -> None:
        await self._cm.__aexit__(*exc)


async def counts(endpoint: str, url: str) -> tuple[int, int, int]:
    async with Raw(endpoint) as c:
        a = (await c.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]))["Attributes"]
    return (int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesDelayed"]),
            int(a["ApproximateNumberOfMessagesNotVisible"]))


def job(n: int = 0, **kw: Any) -> Job:
    return Job(id=str(uuid.uuid4()), name="App\\Job", payload=json.dumps({"n": n}).encode(),
               headers=kw.pop("headers", {"tenant": ["42"]}), pipeline="p", **kw)


async def test_push_consume_ack_deletes(make_driver: DriverFactory,
                                        sqs_endpoint: str) -> None:  # noqa: F811
    inbox = Inbox()
    driver = make_driver({"prefetch": 10}, inbox)
    sent = job(1, priority=3)
    await driver.push(sent)
    assert (await driver.state()).active == 1
    await driver.run()
    d = await inbox.next()
    assert (d.job.id, d.job.name, d.job.payload, d.job.priority) == \
        (sent.id, sent.name, sent.payload, 3)
    assert d.job.headers["tenant"] == ["42"]
    assert d.job.headers["ApproximateReceiveCount"] == ["1"]
    ctx = json.loads(d.context())
    assert ctx["driver"] == "sqs" and ctx["queue"] == driver.config.queue
    assert ctx["pipeline"] == driver.pipeline and ctx["id"] == sent.id
    await d.ack()
    st = await driver.state()
    assert st.ready and st.connected and st.queue.endswith(driver.config.queue)
    assert await counts(sqs_endpoint, driver.url) == (0, 0, 0)
    await driver.stop()
    with pytest.raises(RRError, match="stopped"):
        await d.ack()


async def test_acks_share_delete_requests(make_driver: DriverFactory,
                                          sqs_endpoint: str) -> None:  # noqa: F811
    inbox = Inbox()
    driver = make_driver({"prefetch": 10}, inbox)
    for i in range(10):
        await driver.push(job(i))
    await driver.run()
    got = [await inbox.next() for _ in range(10)]
    await asyncio.gather(*(d.ack() for d in got))
    # ten acks in one DeleteMessageBatch (or two, if a receive split them in time)
    assert driver._deletes.requests <= 2
    assert await counts(sqs_endpoint, driver.url) == (0, 0, 0)
    await driver.stop()


async def test_failure_paths(make_driver: DriverFactory) -> None:
    inbox = Inbox()
    driver = make_driver({"prefetch": 10}, inbox)
    crashed, discarded, requeued = job(1), job(2), job(3, headers={"a": ["1"], "b": ["x"]})
    for j in (crashed, discarded, requeued):
        await driver.push(j)
    await driver.run()
    got = {}
    for _ in range(3):
        d = await inbox.next()
        got[d.job.id] = d
    await got[crashed.id].nack()                    # worker crash: a copy comes back
    await got[discarded.id].nack(requeue=False)     # explicit discard: gone
    await got[requeued.id].requeue({"a": ["2"]}, 0)
    again = {}
    for _ in range(2):
        d = await inbox.next()
        again[d.job.id] = d
    assert set(again) == {crashed.id, requeued.id}
    assert again[requeued.id].job.headers["a"] == ["2"]
    assert again[requeued.id].job.headers["b"] == ["x"]
    for d in again.values():
        await d.ack()
    assert await inbox.nothing_for(1.5)


async def test_stop_returns_unstarted_messages(make_driver: DriverFactory,
                                               sqs_endpoint: str) -> None:  # noqa: F811
    inbox = Inbox()
    queue = f"rr-{uuid.uuid4().hex[:12]}"
    first = make_driver({"queue": queue, "prefetch": 5, "visibility_timeout": 600}, inbox)
    for n in range(3):
        await first.push(job(n))
    await first.run()
    for _ in range(3):
        await inbox.next()
    await first.stop()
    # without returning them, they would stay invisible for 600 s
    assert await counts(sqs_endpoint, first.url) == (3, 0, 0)
    inbox2 = Inbox()
    second = make_driver({"queue": queue, "prefetch": 5}, inbox2)
    await second.run()
    for _ in range(3):
        await (await inbox2.next()).ack()


async def test_pause_resume_and_errors(make_driver: DriverFactory) -> None:
    inbox = Inbox()
    driver = make_driver({}, inbox)
    with pytest.raises(RRError, match="no active listeners"):
        await driver.pause()
    await driver.run()
    with pytest.raises(RRError, match="sqs listener is already in the active state"):
        await driver.resume()
    await driver.pause()
    assert not (await driver.state()).ready
    await driver.push(job(1))
    assert await inbox.nothing_for(1.5)
    await driver.resume()
    await (await inbox.next()).ack()


async def test_delay_and_long_delay(make_driver: DriverFactory, sqs_endpoint: str) -> None:  # noqa: F811
    inbox = Inbox()
    driver = make_driver({}, inbox)
    await driver.push(job(1, delay=2))
    await driver.push(job(2, delay=3600))
    active, delayed, _ = await counts(sqs_endpoint, driver.url)
    assert (active, delayed) == (0, 2)
    async with Raw(sqs_endpoint) as c:
        await c.set_queue_attributes(QueueUrl=driver.url, Attributes={})
    await driver.run()
    d = await inbox.next()
    assert d.job.delay == 2
    await d.ack()
    assert await inbox.nothing_for(1.5)


async def test_early_long_delay_is_sent_on(make_driver: DriverFactory,
                                           sqs_endpoint: str) -> None:  # noqa: F811
    inbox = Inbox()
    driver = make_driver({}, inbox)
    await driver.run()
    async with Raw(sqs_endpoint) as c:  # what a hop of a 1-hour delay looks like when due
        await c.send_message(QueueUrl=driver.url, MessageBody="x", MessageAttributes={
            "rr_id": {"DataType": "String", "StringValue": "late"},
            "rr_delay_until": {"DataType": "Number", "StringValue": "99999999999"}})
    assert await inbox.nothing_for(2)
    _, delayed, _ = await counts(sqs_endpoint, driver.url)
    assert delayed == 1


async def test_interop_with_roadrunner_encoding(make_driver: DriverFactory,
                                                sqs_endpoint: str) -> None:  # noqa: F811
    inbox = Inbox()
    driver = make_driver({"priority": 4, "prefetch": 10}, inbox)
    await driver.push(job(0))  # creates the queue
    async with Raw(sqs_endpoint) as c:
        got = await c.receive_message(QueueUrl=driver.url, MessageAttributeNames=["All"],
                                      WaitTimeSeconds=1)
        m = got["Messages"][0]
        await c.delete_message(QueueUrl=driver.url, ReceiptHandle=m["ReceiptHandle"])
        attrs = m["MessageAttributes"]
        assert set(attrs) == {"rr_id", "rr_job", "rr_delay", "rr_headers", "rr_priority",
                              "rr_auto_ack"}
        assert attrs["rr_headers"] == {"DataType": "Binary",
                                       "BinaryValue": b'{"tenant":["42"]}'}
        assert attrs["rr_priority"] == {"DataType": "Number", "StringValue": "4"}
        assert attrs["rr_auto_ack"]["StringValue"] == "false"
        assert m["Body"] == '{"n": 0}'
        # as RoadRunner sends it, then a foreign message without rr_* attributes
        await c.send_message(QueueUrl=driver.url, MessageBody="rr", MessageAttributes={
            "rr_id": {"DataType": "String", "StringValue": "id-1"},
            "rr_job": {"DataType": "String", "StringValue": "App\\Ping"},
            "rr_delay": {"DataType": "String", "StringValue": "0"},
            "rr_headers": {"DataType": "Binary", "BinaryValue": b'{"x":["y"]}'},
            "rr_priority": {"DataType": "Number", "StringValue": "7"},
            "rr_auto_ack": {"DataType": "String", "StringValue": "true"}})
        await c.send_message(QueueUrl=driver.url, MessageBody="raw", MessageAttributes={
            "origin": {"DataType": "String", "StringValue": "legacy"}})
    await driver.run()
    jobs = {}
    for _ in range(2):
        d = await inbox.next()
        jobs[d.job.payload] = d
    rr = jobs[b"rr"]
    assert (rr.job.id, rr.job.name, rr.job.priority, rr.job.auto_ack) == \
        ("id-1", "App\\Ping", 7, True)
    assert rr.job.headers["x"] == ["y"]
    await rr.ack()  # auto-acked on receipt already: a no-op, not an error
    foreign = jobs[b"raw"]
    assert foreign.job.name == "deduced_by_rr" and foreign.job.priority == 4
    assert foreign.job.headers["origin"] == ["legacy"]
    await foreign.ack()
    assert await counts(sqs_endpoint, driver.url) == (0, 0, 0)


async def test_binary_payload_round_trips(make_driver: DriverFactory) -> None:
    inbox = Inbox()
    driver = make_driver({}, inbox)
    payload = bytes(range(256)) * 4
    await driver.push(Job(id="b", name="bin", payload=payload))
    await driver.run()
    d = await inbox.next()
    assert d.job.payload == payload
    await d.ack()


async def test_fifo_queue_and_declare_options(make_driver: DriverFactory) -> None:
    inbox = Inbox()
    driver = make_driver({"queue": f"rr-{uuid.uuid4().hex[:8]}.fifo", "prefetch": "10",
                          "wait_time": "1", "message_group_id": "g1",
                          "attributes": '{"ContentBasedDeduplication":"false"}'},
                         inbox, declared=True)
    assert driver.config.wait_time == 1 and driver.config.attributes["FifoQueue"] == "true"
    ids = []
    for n in range(3):
        j = job(n)
        ids.append(j.id)
        await driver.push(j)
    await driver.run()
    got = []
    for _ in range(3):
        d = await inbox.next()
        got.append(d.job.id)
        assert d.job.headers["MessageGroupId"] == ["g1"]
        await d.ack()
    assert got == ids


async def test_missing_queue_with_skip_declaration(make_driver: DriverFactory) -> None:
    driver = make_driver({"skip_queue_declaration": True}, Inbox())
    with pytest.raises(Exception, match="does not exist"):
        await driver.push(job())
    st = await driver.state()
    assert not st.connected and st.error


def test_config(sqs_endpoint: str) -> None:  # noqa: F811
    def build(cfg: dict[str, Any], declared: bool = False) -> SQSDriver:
        return SQSDriver(PipelineOptions("p", "sqs", cfg, declared=declared,
                                         global_section=Section(section(sqs_endpoint), "sqs")),
                         Inbox())

    d = build({"prefetch": 50, "wait_time_seconds": 99, "attributes": {
        "messageretentionperiod": 86400, "redrivepolicy": {"maxReceiveCount": 3}}})
    assert (d.config.prefetch, d.config.max_in_flight, d.config.wait_time) == (10, 10, 20)
    assert d.config.attributes == {"MessageRetentionPeriod": "86400",
                                   "RedrivePolicy": '{"maxReceiveCount":3}'}
    assert build({}).config.prefetch == 1 and build({}).config.queue == "default"
    with pytest.raises(ConfigError, match="visibility_timeout"):
        build({"visibility_timeout": 50000})
    with pytest.raises(ConfigError, match="attributes"):
        build({"attributes": '{"DelaySeconds": 5}'}, declared=True)


async def test_held_message_stays_invisible_past_its_timeout(
        make_driver: DriverFactory, sqs_endpoint: str) -> None:  # noqa: F811
    inbox = Inbox()
    driver = make_driver({"visibility_timeout": 2}, inbox)
    await driver.push(job(1))
    await driver.run()
    d = await inbox.next()
    await asyncio.sleep(5)        # a worker busy for 2.5 visibility timeouts
    assert await counts(sqs_endpoint, driver.url) == (0, 0, 1)
    assert await inbox.nothing_for(0.5)
    await d.ack()
