"""``pool.dynamic_allocator``: extra workers while requests wait, gone when idle.

RoadRunner's allocator only reacts after a request has already waited the whole
``allocate_timeout`` (and then fails it anyway if no worker frees up in 2 s), spawns again
for every such request (a spawn storm under a burst), and removes all extra workers at
once only when no spawn happened for ``idle_timeout`` — under steady load they never go.
Here a tick looks at the queue: when requests have waited at least one tick, up to
``spawn_rate`` workers are started (counting those already starting, never more than
``max_workers`` extra), so a burst grows the pool within ticks and a request still gets
its full ``allocate_timeout``. The pool hands out workers last-in-first-out while the
allocator is on, so the workers not needed stay idle, and each one idle for
``idle_timeout`` is retired, down to ``num_workers``. Workers that die soon after their
start pause the growth, doubling the pause, so a crash loop never turns into a fork loop.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from rr.pool.config import DynamicConfig
from rr.pool.errors import PoolError
from rr.pool.state import WorkerState

if TYPE_CHECKING:
    from rr.pool.pool import Pool

#: how often the queue and the idle workers are looked at
TICK = 0.25
#: the longest growth pause after workers keep dying early
MAX_PAUSE = 10.0
#: this long without an early death forgets the failures
CALM = 10.0


class Scaler:
    """The growth and shrink decisions of one pool; the pool does the spawning."""

    def __init__(self, pool: Pool, cfg: DynamicConfig) -> None:
        self.pool = pool
        self.cfg = cfg
        self.added = 0  # dynamic spawns started, for logs and tests
        self._fails = 0
        self._pause_until = 0.0
        self._last_fail = 0.0
        self._task: asyncio.Task[None] | None = None

    @property
    def ceiling(self) -> int:
        return self.pool.target + self.cfg.max_workers

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            self.tick()

    def tick(self) -> None:
        pool = self.pool
        if pool._stopped:
            return
        now = time.monotonic()
        self._grow(now)
        self._shrink(now)

    def _grow(self, now: float) -> None:
        pool = self.pool
        if now < self._pause_until or pool._idle:
            return
        room = self.ceiling - len(pool.workers_set) - pool._spawning
        if room <= 0:
            return
        # waiters are in arrival order and share one timeout: the head is the oldest
        loop_now = asyncio.get_running_loop().time()
        cutoff = loop_now - TICK + pool.cfg.allocate_timeout
        want = min(room, self.cfg.spawn_rate + pool._spawning)
        waited = 0
        for fut, deadline in zip(pool._waiters, pool._deadlines, strict=True):
            if deadline > cutoff or waited >= want:
                break
            if not fut.done():
                waited += 1
        n = min(room, self.cfg.spawn_rate, waited - pool._spawning)
        for _ in range(n):
            self.added += 1
            pool._bg(self._add())
        if n > 0:
            pool.log.debug("dynamic allocator: spawning extra workers",
                           extra={"fields": {"pool": pool.name, "count": n,
                                             "workers": len(pool.workers_set)}})

    async def _add(self) -> None:
        pool = self.pool
        try:
            w = await pool._spawn()
        except PoolError as e:
            self.on_early_death()
            pool.log.error("dynamic allocator: failed to spawn an extra worker",
                           extra={"fields": {"pool": pool.name, "error": str(e)}})
            return
        if pool._stopped or len(pool.workers_set) >= self.ceiling:
            w.state = WorkerState.DESTROYED
            await w.stop(pool.cfg.stop_grace)
            return
        pool._release(w)

    def _shrink(self, now: float) -> None:
        pool = self.pool
        idle = pool._idle
        excess = len(pool.workers_set) - pool.target
        # the idle queue is in release order (LIFO hand-out takes from the right), so the
        # left end holds the workers idle the longest
        while excess > 0 and idle and now - idle[0].idle_since >= self.cfg.idle_timeout:
            w = idle[0]
            pool.log.debug("dynamic allocator: idle extra worker retired",
                           extra={"fields": {"pool": pool.name, "pid": w.pid}})
            pool._retire(w, WorkerState.IDLE_TTL_REACHED, replace=False)
            excess -= 1

    def on_early_death(self) -> None:
        """A worker died (or failed to start) right after its spawn: pause the growth."""
        now = time.monotonic()
        if now - self._last_fail > CALM:
            self._fails = 0
        self._last_fail = now
        self._fails += 1
        self._pause_until = now + min(MAX_PAUSE, TICK * 2 ** self._fails)
