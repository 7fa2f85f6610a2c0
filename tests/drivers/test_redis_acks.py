"""drivers/redis_acks.AckBuffer on its own: batching, a failing round trip kept and
retried, and the final flush. (Against the real Redis: tests/drivers/test_redis_driver.)"""

from __future__ import annotations

import asyncio

import pytest

from rr.drivers import redis_acks
from rr.drivers.redis_acks import AckBuffer


class Sender:
    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.failing = False
        self.errors: list[BaseException] = []
        self.sent_ok = 0

    async def send(self, ids: list[str]) -> None:
        await asyncio.sleep(0.001)  # a round trip
        if self.failing:
            raise ConnectionError("redis is away")
        self.batches.append(ids)

    def buffer(self, limit: int = 4, delay: float = 0.01) -> AckBuffer:
        return AckBuffer(self.send, limit, on_error=self.errors.append,
                         on_sent=self._sent, delay=delay)

    def _sent(self) -> None:
        self.sent_ok += 1


async def test_batches_by_size_and_by_delay() -> None:
    s = Sender()
    acks = s.buffer(limit=4, delay=0.3)
    for i in range(4):  # the limit sends at once, without the delay
        acks.add(f"{i}-0")
    await asyncio.sleep(0.05)
    assert s.batches == [["0-0", "1-0", "2-0", "3-0"]]
    for i in range(4, 10):  # acks arriving during a round trip join the next one
        acks.add(f"{i}-0")
    acks.add("10-0")
    await asyncio.sleep(0.05)
    assert len(s.batches) == 2 and len(s.batches[1]) == 7
    acks.add("11-0")  # a straggler waits for company, then goes alone
    await asyncio.sleep(0.05)
    assert len(s.batches) == 2
    await asyncio.sleep(0.5)
    assert s.batches[2:] == [["11-0"]] and s.sent_ok == 3


async def test_failed_round_trip_is_kept_and_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redis_acks, "RETRY_DELAY", 0.1)
    s = Sender()
    acks = s.buffer(limit=2)
    s.failing = True
    acks.add("1-0")
    acks.add("2-0")
    await asyncio.sleep(0.01)
    assert s.batches == [] and len(s.errors) == 1 and len(acks) == 2  # kept
    s.failing = False
    acks.add("3-0")
    await asyncio.sleep(0.3)
    assert sum(s.batches, []) == ["1-0", "2-0", "3-0"] and len(acks) == 0


async def test_final_flush_sends_the_rest_and_closes() -> None:
    s = Sender()
    acks = s.buffer(limit=100, delay=60.0)
    acks.add("1-0")
    acks.add("2-0")
    assert await acks.flush(timeout=1.0) is True
    assert s.batches == [["1-0", "2-0"]]
    acks.add("3-0")  # after the final flush nothing is sent any more
    await asyncio.sleep(0.02)
    assert s.batches == [["1-0", "2-0"]] and acks.discard() == ["3-0"]


async def test_final_flush_reports_what_could_not_be_sent() -> None:
    s = Sender()
    s.failing = True
    acks = s.buffer(limit=100, delay=60.0)
    acks.add("1-0")
    assert await acks.flush(timeout=1.0) is False
    assert acks.discard() == ["1-0"] and s.errors
