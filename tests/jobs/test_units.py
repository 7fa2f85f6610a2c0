"""Pure units: reply parsing, proto bytes from the spec, the priority queue, retry policy."""

from __future__ import annotations

import asyncio

import pytest

from rr.jobs.proto import jobs_pb2 as pb
from rr.jobs.reply import Action, Outcome, parse_reply
from rr.jobs.retry import RetryPolicy
from rr.pipeline.driver import PipelineOptions
from rr.pipeline.queue import PriorityQueue


@pytest.mark.parametrize("body,action,outcome,requeue,delay", [
    (b'{"type":0,"data":[]}', Action.ACK, Outcome.OK, False, 0),
    (b'{"type":2,"data":[]}', Action.ACK, Outcome.OK, False, 0),
    (b'{"type":2}', Action.ACK, Outcome.OK, False, 0),
    (b"", Action.ACK, Outcome.OK, False, 0),
    (b'{"type":1,"data":{"message":"boom","requeue":false,"delay_seconds":0}}',
     Action.ACK, Outcome.ERR, False, 0),
    (b'{"type":1,"data":{"message":"b","requeue":true,"delay_seconds":3}}',
     Action.REQUEUE, Outcome.REQUEUE, True, 3),
    (b'{"type":3,"data":{"message":"x","requeue":false,"delay_seconds":0}}',
     Action.NACK, Outcome.ERR, False, 0),
    (b'{"type":3,"data":{"message":"x","requeue":true,"delay_seconds":30}}',
     Action.NACK, Outcome.REQUEUE, True, 30),
    (b'{"type":4,"data":{"message":"later","delay_seconds":10,"headers":{"a":["2"]}}}',
     Action.REQUEUE, Outcome.REQUEUE, True, 10),
    (b'{"type":9,"data":[]}', Action.ACK, Outcome.OK, False, 0),
    (b"not json", Action.ACK, Outcome.ERR, False, 0),
    (b'{"type":4,"data":{"headers":[{"a":["1"]}]}}', Action.ACK, Outcome.ERR, False, 0),
    (b'{"type":3,"data":[1]}', Action.ACK, Outcome.ERR, False, 0),
])
def test_reply_table(body: bytes, action: Action, outcome: Outcome, requeue: bool,
                     delay: int) -> None:
    r = parse_reply(body)
    assert (r.action, r.outcome, r.requeue, r.delay) == (action, outcome, requeue, delay)


def test_reply_details() -> None:
    r = parse_reply(b'{"type":4,"data":{"message":"m","delay_seconds":1,'
                    b'"headers":{"attempts":["2"]},"extra":1}}')
    assert r.headers == {"attempts": ["2"]} and r.message == "m"
    assert parse_reply(b'{"type":7}').unknown_type == 7
    assert parse_reply(b"{").invalid


def h(s: str) -> bytes:
    return bytes.fromhex(s.replace(" ", ""))


def test_proto_matches_spec_examples() -> None:
    assert pb.Pipelines(pipelines=["emails", "billing"]).SerializeToString() == h(
        "0a 06 65 6d 61 69 6c 73 0a 07 62 69 6c 6c 69 6e 67")
    req = pb.PushRequest()
    req.ParseFromString(h(
        "0a 47 0a 10 41 70 70 5c 4a 6f 62 5c 53 65 6e 64 4d 61 69 6c 12 08 30 66 31 65 32 64"
        " 33 63 1a 0c 7b 22 74 6f 22 3a 22 61 40 62 22 7d 22 0f 0a 08 61 74 74 65 6d 70 74 73"
        " 12 03 0a 01 31 2a 0a 12 06 65 6d 61 69 6c 73 18 05"))
    assert req.job.job == "App\\Job\\SendMail" and req.job.id == "0f1e2d3c"
    assert list(req.job.headers["attempts"].value) == ["1"]
    assert req.job.options.pipeline == "emails" and req.job.options.delay == 5
    stats = pb.Stats(stats=[pb.Stat(pipeline="emails", driver="memory", queue="emails",
                                    active=3, ready=True, priority=10)])
    assert stats.SerializeToString() == h(
        "0a 1e 0a 06 65 6d 61 69 6c 73 12 06 6d 65 6d 6f 72 79 1a 06 65 6d 61 69 6c 73 20 03"
        " 38 01 40 0a")
    d = pb.DeclareRequest()
    d.ParseFromString(h(
        "0a 0d 0a 04 6e 61 6d 65 12 05 6c 6f 63 61 6c 0a 10 0a 06 64 72 69 76 65 72 12 06 6d"
        " 65 6d 6f 72 79 0a 0e 0a 08 70 72 69 6f 72 69 74 79 12 02 31 30 0a 0e 0a 08 70 72 65"
        " 66 65 74 63 68 12 02 31 30"))
    assert dict(d.pipeline) == {"name": "local", "driver": "memory", "priority": "10",
                                "prefetch": "10"}


async def test_queue_priority_then_fifo() -> None:
    q: PriorityQueue[str] = PriorityQueue(100)
    for i, (item, prio) in enumerate([("a", 5), ("b", 1), ("c", 5), ("d", 1), ("e", 3)]):
        assert q.offer(item, prio, f"g{i % 2}")
    assert [await q.get() for _ in range(5)] == ["b", "d", "e", "a", "c"]


async def test_queue_bounded_put_blocks_and_remove_group() -> None:
    q: PriorityQueue[str] = PriorityQueue(2)
    await q.put("a", 1, "x")
    await q.put("b", 1, "y")
    assert not q.offer("c", 1, "x")
    blocked = asyncio.ensure_future(q.put("c", 1, "x"))
    await asyncio.sleep(0.01)
    assert not blocked.done()
    assert q.remove_group("x") == ["a"]
    await asyncio.wait_for(blocked, 1)
    assert len(q) == 2
    getter = asyncio.ensure_future(q.get())
    assert await getter == "b"
    q.close()


async def test_queue_depths_follow_every_way_in_and_out() -> None:
    q: PriorityQueue[str] = PriorityQueue(100)
    for i in range(6):
        assert q.offer(f"j{i}", i % 3, "x" if i < 4 else "y")
    assert q.depths() == {"x": 4, "y": 2}
    assert q.get_nowait() == "j0"
    assert await q.get() == "j3"
    assert q.depths() == {"x": 2, "y": 2}
    assert q.remove_group("x") == ["j1", "j2"]
    assert q.depths() == {"y": 2}
    assert q.drain() == ["j4", "j5"]
    assert q.depths() == {}


def test_retry_policy() -> None:
    o = PipelineOptions("p", "memory", {"retry": {"max_attempts": 4, "delay": "2s",
                                                  "multiplier": 3, "max_delay": 10}})
    r = RetryPolicy.from_options(o)
    assert (r.max_attempts, r.delay, r.multiplier, r.max_delay) == (4, 2.0, 3.0, 10.0)
    assert [r.backoff(a) for a in (1, 2, 3)] == [2, 6, 10]
    assert not r.exhausted(3) and r.exhausted(4)
    declared = PipelineOptions("p", "memory", {"retry": '{"max_attempts":2}'}, declared=True)
    assert RetryPolicy.from_options(declared).max_attempts == 2
    assert not RetryPolicy.from_options(PipelineOptions("p", "memory", {})).enabled


def test_context_bytes_matches_json_dumps() -> None:
    """The hand-built context must equal the generic encoder's output byte for byte."""
    import json

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from rr.pipeline.job import Job

    text = st.text()

    @settings(max_examples=300, deadline=None)
    @given(text, text, text, st.dictionaries(text, st.lists(text)), text, st.integers())
    def check(job_id: str, name: str, pipeline: str, headers: dict[str, list[str]],
              queue: str, offset: int) -> None:
        job = Job(id=job_id, name=name, pipeline=pipeline, headers=headers)
        extra = {"queue": queue, "topic": queue, "partition": offset, "offset": offset}
        assert job.context_bytes("kafka", **extra) == json.dumps(
            job.context("kafka", **extra), separators=(",", ":")).encode()
        assert job.context_bytes("memory") == json.dumps(
            job.context("memory"), separators=(",", ":")).encode()

    check()


def test_sdk_ack_bodies_take_the_fast_path() -> None:
    from rr.jobs.reply import ACK_REPLY

    for body in (b'{"type":0,"data":[]}', b'{"type":2,"data":[]}', b'{"type":2,"data":{}}'):
        assert parse_reply(body) is ACK_REPLY
    # anything else still goes through the table
    assert parse_reply(b'{"type":1,"data":[]}').outcome is Outcome.ERR
    assert parse_reply(b'{"type":2, "data":[]}').outcome is Outcome.OK
