"""The jobs core (plugin + dispatcher + memory driver) with an in-process pool."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from rr.app import App
from rr.config import Config
from rr.drivers.memory import MemoryDriver
from rr.errors import RRError
from rr.jobs.plugin import JobsPlugin
from rr.pipeline.job import Job
from rr.pool.errors import SoftJobError, WorkerError
from tests.jobs.fakepool import FakePool, Handler, ack


def make(handler: Handler, pipelines: dict[str, Any], consume: list[str] | None = None,
         **extra: Any) -> tuple[JobsPlugin, FakePool]:
    cfg = {"jobs": {"timeout": 5, "pool": {"num_workers": 2},
                    "consume": consume if consume is not None else list(pipelines),
                    "pipelines": pipelines, **extra}}
    app = App(Config(cfg))
    pool = FakePool(handler)
    app.make_pool = lambda *a, **k: pool  # type: ignore[method-assign]
    return JobsPlugin(app), pool


@pytest.fixture
async def stopper() -> AsyncIterator[list[JobsPlugin]]:
    plugins: list[JobsPlugin] = []
    yield plugins
    for p in plugins:
        await p.stop()


def job(pipeline: str, name: str = "J", **kw: Any) -> Job:
    return Job(id=kw.pop("id", str(uuid.uuid4())), name=name, pipeline=pipeline, **kw)


async def until(pred: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not pred():
            await asyncio.sleep(0.005)


MEM = {"driver": "memory", "config": {"priority": 10}}


async def test_ack_and_context(stopper: list[JobsPlugin]) -> None:
    jobs, pool = make(ack, {"emails": MEM})
    stopper.append(jobs)
    await jobs.start()
    await jobs.push(job("emails", "App\\Mail", id="u1", payload=b"{}",
                        headers={"a": ["1"]}))
    await until(lambda: len(pool.seen) == 1)
    assert pool.seen[0] == {"id": "u1", "job": "App\\Mail", "driver": "memory",
                            "headers": {"a": ["1"]}, "pipeline": "emails", "queue": "emails"}
    assert pool.flags == [0x04]  # raw codec
    await until(lambda: jobs.pipelines["emails"].driver.in_flight == 0)  # type: ignore


async def test_priority_order_across_pipelines(stopper: list[JobsPlugin]) -> None:
    gate = asyncio.Event()

    async def slow(ctx: dict[str, Any], body: bytes) -> bytes:
        await gate.wait()
        return b'{"type":2,"data":[]}'

    jobs, pool = make(slow, {"a": {"driver": "memory", "config": {"priority": 5}},
                             "b": {"driver": "memory", "config": {"priority": 1}}},
                      consume=[])
    jobs.cfg.timeout = 5
    stopper.append(jobs)
    await jobs.start()
    # pause pool consumption: fill the queue first, then consume in priority order
    for i in range(3):
        await jobs.push(job("a", id=f"a{i}"))
    await jobs.push(job("b", id="b0"))
    await jobs.push(job("a", id="a-urgent", priority=1))
    await jobs.push(job("b", id="b-late", priority=7))
    await jobs.resume("a")
    await jobs.resume("b")
    gate.set()
    await until(lambda: len(pool.seen) == 6)
    # 4 pollers grabbed jobs concurrently, but queue order is by priority then FIFO
    assert [c["id"] for c in pool.seen] == ["a-urgent", "b0", "a0", "a1", "a2", "b-late"]


@pytest.mark.parametrize("reply,expect_runs", [
    (b'{"type":3,"data":{"message":"x","requeue":true,"delay_seconds":0}}', 3),
    (b'{"type":1,"data":{"message":"x","requeue":true,"delay_seconds":0,'
     b'"headers":{"n":["1"]}}}', 3),
    (b'{"type":4,"data":{"message":"x","delay_seconds":0,"headers":{"n":["1"]}}}', 3),
    (b'{"type":3,"data":{"message":"x","requeue":false}}', 1),
    (b'{"type":1,"data":{"message":"x","requeue":false}}', 1),
    (b"garbage", 1),
    (b'{"type":42}', 1),
])
async def test_reply_types(stopper: list[JobsPlugin], reply: bytes, expect_runs: int) -> None:
    runs: list[dict[str, Any]] = []

    async def handler(ctx: dict[str, Any], body: bytes) -> bytes:
        runs.append(ctx)
        return b'{"type":2,"data":[]}' if len(runs) >= 3 else reply

    jobs, pool = make(handler, {"p": MEM})
    stopper.append(jobs)
    await jobs.start()
    await jobs.push(job("p", id="j1", headers={"keep": ["k"]}))
    await until(lambda: len(runs) >= expect_runs)
    await asyncio.sleep(0.05)
    assert len(runs) == expect_runs
    if expect_runs == 3 and b'"n"' in reply:
        assert runs[1]["headers"] == {"keep": ["k"], "n": ["1"]}


async def test_worker_failures_return_memory_jobs(stopper: list[JobsPlugin]) -> None:
    runs: list[dict[str, Any]] = []

    async def handler(ctx: dict[str, Any], body: bytes) -> bytes:
        runs.append(ctx)
        if len(runs) == 1:
            raise SoftJobError("boom")
        if len(runs) == 2:
            raise WorkerError("worker died")
        return b'{"type":2,"data":[]}'

    jobs, _ = make(handler, {"p": MEM})
    stopper.append(jobs)
    await jobs.start()
    await jobs.push(job("p", id="x"))
    await until(lambda: len(runs) == 3)
    assert [r["headers"].get("rr-attempt") for r in runs] == [None, ["2"], ["3"]]


async def test_retry_policy_and_dead_letter(stopper: list[JobsPlugin],
                                            caplog: pytest.LogCaptureFixture) -> None:
    runs: list[dict[str, Any]] = []

    async def handler(ctx: dict[str, Any], body: bytes) -> bytes:
        runs.append(ctx)
        raise WorkerError("crash")

    jobs, _ = make(handler, {
        "work": {"driver": "memory",
                 "config": {"retry": {"max_attempts": 3}, "dead_letter": "dead"}},
        "dead": MEM}, consume=["work"])
    stopper.append(jobs)
    await jobs.start()
    await jobs.push(job("work", id="poison", payload=b"P"))
    dead = jobs.pipelines["dead"].driver
    await until(lambda: len(dead.browse()) == 1)  # type: ignore[union-attr]
    assert [r["headers"].get("rr-attempt") for r in runs] == [None, ["2"], ["3"]]
    dl = dead.browse()[0]  # type: ignore[union-attr]
    assert dl.id == "poison" and dl.payload == b"P"
    assert dl.headers["rr-dead-letter-from"] == ["work"]
    assert "exhausted" in dl.headers["rr-dead-letter-reason"][0]


async def test_explicit_nack_goes_to_dead_letter(stopper: list[JobsPlugin]) -> None:
    async def handler(ctx: dict[str, Any], body: bytes) -> bytes:
        return b'{"type":3,"data":{"message":"bad input","requeue":false}}'

    jobs, _ = make(handler, {"work": {"driver": "memory", "config": {"dead_letter": "dl"}},
                             "dl": MEM}, consume=["work"])
    stopper.append(jobs)
    await jobs.start()
    await jobs.push(job("work", id="n1"))
    dead = jobs.pipelines["dl"].driver
    await until(lambda: len(dead.browse()) == 1)  # type: ignore[union-attr]
    assert dead.browse()[0].headers["rr-dead-letter-reason"] == ["bad input"]  # type: ignore


async def test_delays_and_stat_counters(stopper: list[JobsPlugin]) -> None:
    jobs, pool = make(ack, {"p": MEM})
    stopper.append(jobs)
    await jobs.start()
    for i in range(1500):  # more than RoadRunner's 1000 delayed-job cap
        await jobs.push(job("p", id=f"d{i}", delay=1))
    st = (await jobs.states())[0]
    assert (st.delayed, st.active, st.ready, st.queue, st.priority) == (1500, 0, True, "p", 10)
    await jobs.push(job("p", id="now"))
    await until(lambda: len(pool.seen) >= 1)
    assert pool.seen[0]["id"] == "now"
    await until(lambda: len(pool.seen) == 1501)
    await until(lambda: jobs.pipelines["p"].driver.delayed == 0)  # type: ignore[union-attr]


async def test_pause_resume_declare_destroy_errors(stopper: list[JobsPlugin]) -> None:
    jobs, pool = make(ack, {"p": MEM}, consume=["p", "later"])
    stopper.append(jobs)
    await jobs.start()
    await jobs.pause("p")
    with pytest.raises(RRError, match="^no active listeners, nothing to pause$"):
        await jobs.pause("p")
    await jobs.push(job("p", id="held"))
    await asyncio.sleep(0.05)
    assert pool.seen == [] and not (await jobs.states())[0].ready
    await jobs.resume("p")
    with pytest.raises(RRError, match="^memory listener is already in the active state$"):
        await jobs.resume("p")
    await until(lambda: len(pool.seen) == 1)
    with pytest.raises(RRError, match="^no such pipeline, requested: nope$"):
        await jobs.pause("nope")
    with pytest.raises(RRError, match="^pipeline already exists, name: p, driver: memory$"):
        await jobs.declare({"name": "p", "driver": "memory"})
    with pytest.raises(RRError, match="^no associated driver with the pipeline, pipeline "
                                      "name: x$"):
        await jobs.declare({"name": "x"})
    await jobs.declare({"name": "tmp", "driver": "memory", "priority": "3", "prefetch": "10"})
    assert not jobs.pipelines["tmp"].consuming  # not in consume: stays paused
    await jobs.declare({"name": "later", "driver": "memory"})
    assert jobs.pipelines["later"].consuming
    await jobs.destroy("tmp")
    with pytest.raises(RRError, match="no such pipeline, requested: tmp"):
        await jobs.push(job("tmp"))


async def test_graceful_stop_runs_the_memory_backlog_then_reports_the_rest(
        caplog: pytest.LogCaptureFixture) -> None:
    """The backlog runs until the grace period nears its end (a 1.5 s deadline here);
    what is left is reported in one line, and every job either ran or is in it."""
    started = asyncio.Event()
    done: list[str] = []

    async def slow(ctx: dict[str, Any], body: bytes) -> bytes:
        started.set()
        await asyncio.sleep(0.2)
        done.append(ctx["id"])
        return b'{"type":2,"data":[]}'

    jobs, pool = make(slow, {"p": MEM})
    await jobs.start()
    ids = {f"j{i}" for i in range(60)}
    for i in range(60):
        await jobs.push(job("p", id=f"j{i}"))
    await started.wait()
    jobs.app.stop_deadline = asyncio.get_running_loop().time() + 1.5
    with caplog.at_level(logging.WARNING, logger="jobs"):
        await jobs.stop()
    lines = [r.getMessage() for r in caplog.records if r.msg.startswith("jobs lost")]
    assert len(lines) == 1
    lost = set(lines[0].split("ids=")[1].split(","))
    assert f"count={len(lost)} " in lines[0]
    # more than one round of pollers ran: the stop kept working through the backlog
    assert len(done) > 2 * (os.cpu_count() or 1)
    assert set(done) | lost == ids and not set(done) & lost
    assert pool.destroyed
    with pytest.raises(RRError, match="refused: rr is stopping"):
        await jobs.push(job("p", id="late"))


def test_config_errors() -> None:
    from rr.errors import ConfigError

    with pytest.raises(ConfigError, match="pipeline name"):
        make(ack, {"bad name": MEM})


async def test_push_to_unknown_pipeline(stopper: list[JobsPlugin]) -> None:
    jobs, _ = make(ack, {"p": MEM})
    stopper.append(jobs)
    await jobs.start()
    with pytest.raises(RRError, match="^no such pipeline, requested: q$"):
        await jobs.push(job("q"))
    assert json.dumps((await jobs.jobs_states())[0]) == json.dumps(
        {"Pipeline": "p", "Driver": "memory", "Queue": "p", "Active": 0, "Delayed": 0,
         "Reserved": 0, "Ready": True, "Priority": 10, "ErrorMessage": ""})


async def test_spool_round_trip_and_declare_refusal(tmp_path: Path) -> None:
    spool = tmp_path / "p.jobs"
    pipes = {"p": {"driver": "memory", "config": {"priority": 10, "spool": str(spool)}}}
    jobs, _ = make(ack, pipes, consume=[])  # not consuming: everything stays buffered
    await jobs.start()
    await jobs.push(job("p", id="a", payload=b"\x00\xffbin", headers={"h": ["1", "2"]}))
    await jobs.push(job("p", id="b"))
    await jobs.push(Job(id="later", name="J", pipeline="p", delay=3600))
    with pytest.raises(RRError, match="only accepted in the config file"):
        await jobs.declare({"name": "d", "driver": "memory", "spool": str(tmp_path / "x")})
    await jobs.stop()
    assert len(spool.read_text().splitlines()) == 3

    again, _ = make(ack, pipes, consume=[])
    await again.start()
    driver = again.pipelines["p"].driver
    assert isinstance(driver, MemoryDriver)
    buffered = list(driver._buffer)
    assert [(j.id, j.payload, j.headers) for j in buffered] == \
        [("a", b"\x00\xffbin", {"h": ["1", "2"]}), ("b", b"", {})]
    assert driver.delayed == 1 and 3590 <= driver._delayed[0][0] - \
        asyncio.get_running_loop().time() <= 3600
    await again.destroy("p")   # destroy drops the jobs and the file
    assert not spool.exists()
    await again.stop()
