"""pool.dynamic_allocator against real php-cli workers (tests/php/pool_worker.php)."""

from __future__ import annotations

import asyncio
import os

import pytest

from rr.pool.config import DynamicConfig, PoolConfig
from rr.pool.errors import NoFreeWorkersError, WorkerError
from rr.pool.payload import Payload
from rr.pool.pool import Pool
from rr.pool.state import WorkerState
from tests.helpers import PHP_FIXTURES

pytestmark = pytest.mark.php
WORKER = ["php", str(PHP_FIXTURES / "pool_worker.php")]


def dyn_pool(num: int = 1, max_workers: int = 3, spawn_rate: int = 2,
             idle_timeout: float = 1.0, allocate_timeout: float = 20.0) -> Pool:
    cfg = PoolConfig(num_workers=num, allocate_timeout=allocate_timeout,
                     dynamic=DynamicConfig(max_workers, spawn_rate, idle_timeout))
    cfg.stop_grace = 2
    return Pool("test", cfg, WORKER, dict(os.environ))


async def run(pool: Pool, body: str) -> bytes:
    return (await pool.exec(Payload(b"", body.encode()))).body


async def until(pred: object, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred():  # type: ignore[operator]
        if loop.time() > end:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.05)


class Peak:
    """The most workers (alive or starting) the pool held while the block ran."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.value = 0
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            self.value = max(self.value, len(self.pool.workers()) + self.pool._spawning)
            await asyncio.sleep(0.01)

    async def __aenter__(self) -> Peak:
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


async def test_burst_grows_to_max_not_beyond_then_idle_shrinks() -> None:
    pool = dyn_pool(num=1, max_workers=3, spawn_rate=2, idle_timeout=1.0)
    await pool.start()
    try:
        async with Peak(pool) as peak:
            replies = await asyncio.gather(*(run(pool, "sleep:1500") for _ in range(12)))
        assert all(r == b"slept" for r in replies)
        assert peak.value == 4  # num_workers 1 + max_workers 3, never more
        assert pool._scaler is not None and pool._scaler.added <= 3 + 1
        # idle_timeout without work: back down to num_workers, never below
        await until(lambda: len(pool.workers()) == 1)
        await asyncio.sleep(1.5)
        assert len(pool.workers()) == 1
        assert await run(pool, "echo:x") == b"x"
    finally:
        await pool.destroy()


async def test_steady_light_load_lets_extra_workers_go() -> None:
    """LIFO hand-out: one request at a time keeps one worker warm, the rest retire."""
    pool = dyn_pool(num=1, max_workers=3, spawn_rate=3, idle_timeout=1.0)
    await pool.start()
    try:
        await asyncio.gather(*(run(pool, "sleep:800") for _ in range(6)))
        assert len(pool.workers()) > 1
        loop = asyncio.get_running_loop()
        end = loop.time() + 20
        while len(pool.workers()) > 1 and loop.time() < end:
            assert await run(pool, "echo:y") == b"y"  # never waits: no growth
            await asyncio.sleep(0.05)
        assert len(pool.workers()) == 1
    finally:
        await pool.destroy()


async def test_allocate_timeout_keeps_its_meaning() -> None:
    """At the ceiling a waiting request still fails after allocate_timeout."""
    pool = dyn_pool(num=1, max_workers=1, spawn_rate=1, allocate_timeout=1.0)
    await pool.start()
    try:
        busy = [asyncio.create_task(run(pool, "sleep:4000")) for _ in range(2)]
        await until(lambda: len(pool.workers()) == 2 and not pool._idle)
        with pytest.raises(NoFreeWorkersError):
            await run(pool, "echo:late")
        assert len(pool.workers()) == 2
        await asyncio.gather(*busy)
    finally:
        await pool.destroy()


async def test_crash_loop_during_burst_stays_bounded() -> None:
    pool = dyn_pool(num=1, max_workers=2, spawn_rate=2, idle_timeout=1.0)
    await pool.start()
    try:
        async def crash() -> None:
            with pytest.raises(WorkerError):
                await run(pool, "crash")

        loop = asyncio.get_running_loop()
        end = loop.time() + 4
        async with Peak(pool) as peak:
            while loop.time() < end:
                await asyncio.gather(*(crash() for _ in range(6)), return_exceptions=True)
        assert peak.value <= 3
        assert pool._scaler is not None
        # growth pauses when workers die right after their start: far fewer extra spawns
        # than ticks x spawn_rate (4 s / 0.25 s x 2 = 32)
        assert pool._scaler.added < 16
        await until(lambda: any(w.state == WorkerState.READY for w in pool.workers()))
        assert await run(pool, "echo:alive") == b"alive"
    finally:
        await pool.destroy()


async def test_reset_with_dynamic_workers_alive() -> None:
    pool = dyn_pool(num=1, max_workers=3, spawn_rate=3, idle_timeout=30.0)
    await pool.start()
    try:
        await asyncio.gather(*(run(pool, "sleep:800") for _ in range(6)))
        before = {w.pid for w in pool.workers()}
        assert len(before) > 1
        load = [asyncio.create_task(run(pool, "sleep:300")) for _ in range(3)]
        await pool.reset()
        assert all(r == b"slept" for r in await asyncio.gather(*load))
        after = {w.pid for w in pool.workers()}
        assert not before & after
        assert 1 <= len(after) <= 4
        assert await run(pool, "echo:z") == b"z"
    finally:
        await pool.destroy()


def test_config_bounds() -> None:
    from rr.config import Section
    from rr.errors import ConfigError

    def cfg(d: dict[str, object]) -> PoolConfig:
        return PoolConfig.from_section(Section({"num_workers": 2, "dynamic_allocator": d},
                                               "http.pool"))

    c = cfg({})
    assert c.dynamic == DynamicConfig(10, 5, 60.0) and c.max_total == 12
    assert cfg({"idle_timeout": "500ms"}).dynamic.idle_timeout == 60.0  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="max_workers"):
        cfg({"max_workers": 101})
    with pytest.raises(ConfigError, match="spawn_rate"):
        cfg({"spawn_rate": 0})
    assert PoolConfig.from_section(Section({"num_workers": 2}, "http.pool")).dynamic is None
