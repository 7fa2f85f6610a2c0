"""rr.jobs.eager: a settlement that needs no waiting finishes in place; one that waits
finishes in a task with the same results, exceptions and cancellation as a plain task."""

from __future__ import annotations

import asyncio
import contextvars

import pytest

from rr.jobs import eager
from rr.pipeline.driver import Delivery
from rr.pipeline.job import Headers, Job


async def test_finishes_in_place_without_a_task() -> None:
    seen: list[str] = []

    async def sync_only() -> None:
        seen.append("ran")

    assert eager.start(sync_only()) is None
    assert seen == ["ran"]


VAR: contextvars.ContextVar[str] = contextvars.ContextVar("eager_test", default="")


async def test_a_context_variable_set_before_the_wait_is_reset_after_it() -> None:
    """Set in the first step, reset in the task (what aiobotocore does around every
    call): both must run in one context, or the reset raises ValueError."""
    seen: list[str] = []

    async def sets_and_resets() -> None:
        token = VAR.set("inside")
        await asyncio.sleep(0.01)
        seen.append(VAR.get())
        VAR.reset(token)

    task = eager.start(sets_and_resets())
    assert task is not None
    await task
    assert seen == ["inside"]
    assert VAR.get() == ""   # the caller's context is untouched


async def test_error_before_the_first_wait_is_raised_at_once() -> None:
    async def fails() -> None:
        raise ValueError("bad reply")

    with pytest.raises(ValueError, match="bad reply"):
        eager.start(fails())


async def test_waiting_coroutine_continues_in_a_task() -> None:
    loop = asyncio.get_running_loop()
    gate: asyncio.Future[int] = loop.create_future()
    seen: list[object] = []

    async def waits() -> None:
        seen.append("before")
        seen.append(await gate)  # the result reaches the coroutine
        await asyncio.sleep(0)   # a bare yield is fine too
        seen.append(await asyncio.sleep(0.01, "slept"))

    task = eager.start(waits())
    assert task is not None and seen == ["before"]
    loop.call_later(0.01, gate.set_result, 42)
    await asyncio.wait_for(task, 2)
    assert seen == ["before", 42, "slept"]


async def test_exception_of_an_awaited_future_reaches_the_coroutine() -> None:
    loop = asyncio.get_running_loop()
    gate: asyncio.Future[None] = loop.create_future()
    caught: list[str] = []

    async def handles() -> None:
        try:
            await gate
        except ConnectionError as e:
            caught.append(str(e))
            raise RuntimeError("settle failed") from e

    task = eager.start(handles())
    assert task is not None
    gate.set_exception(ConnectionError("broker gone"))
    with pytest.raises(RuntimeError, match="settle failed"):
        await task
    assert caught == ["broker gone"]


async def test_cancel_reaches_the_coroutine_like_a_task() -> None:
    loop = asyncio.get_running_loop()
    gate: asyncio.Future[None] = loop.create_future()
    cleaned: list[bool] = []

    async def waits_forever() -> None:
        try:
            await gate
        finally:
            cleaned.append(True)

    task = eager.start(waits_forever())
    assert task is not None
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert gate.cancelled() and cleaned == [True]


# -- in the dispatcher ----------------------------------------------------------------------
class _SlowAck(Delivery):
    """A delivery whose ack waits for its broker (like an SQS DeleteMessage)."""

    def __init__(self, job_id: str, gate: asyncio.Event, acked: list[str]) -> None:
        self.job = Job(id=job_id, name="J", pipeline="p")
        self._gate, self._acked = gate, acked

    def context(self) -> bytes:
        return self.job.context_bytes("slow")

    async def ack(self) -> None:
        await self._gate.wait()
        self._acked.append(self.job.id)

    async def nack(self, requeue: bool | None = None, delay: int = 0) -> None:
        raise AssertionError("not nacked in this test")

    async def requeue(self, headers: Headers | None, delay: int) -> None:
        raise AssertionError("not requeued in this test")


async def test_a_waiting_ack_holds_neither_poller_nor_shutdown() -> None:
    from prometheus_client import CollectorRegistry

    from rr.jobs.dispatcher import Dispatcher
    from rr.metrics.jobs import JobsMetrics
    from rr.pipeline.queue import PriorityQueue
    from tests.jobs.fakepool import FakePool, ack

    queue: PriorityQueue[Delivery] = PriorityQueue()
    pool = FakePool(ack)
    final: list[str] = []
    dispatcher = Dispatcher(queue, pool, {}, JobsMetrics(CollectorRegistry()), final.append)
    gate, acked = asyncio.Event(), []
    for i in range(3):
        assert queue.offer(_SlowAck(f"j{i}", gate, acked), 10, "p")
    dispatcher.start(1)
    # one poller runs all three jobs although none of their acks has come back yet
    async with asyncio.timeout(5):
        while len(pool.seen) < 3:
            await asyncio.sleep(0.005)
    assert acked == [] and final == []
    stopping = asyncio.create_task(dispatcher.stop(grace=5))
    await asyncio.sleep(0.05)
    assert not stopping.done()  # shutdown waits for the settlements in flight
    gate.set()
    await asyncio.wait_for(stopping, 5)
    assert sorted(acked) == ["j0", "j1", "j2"] and sorted(final) == ["j0", "j1", "j2"]
