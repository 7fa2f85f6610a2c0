"""The one priority queue every consuming pipeline feeds and every poller drains.

RoadRunner's heap is not stable; ours breaks ties by insertion order, so jobs of equal
priority leave in FIFO order. ``put`` blocks while the queue holds ``capacity`` items:
that back-pressure is what stops drivers from pulling more from their brokers.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import Counter, deque
from typing import Generic, TypeVar

T = TypeVar("T")


class QueueClosed(Exception):
    """The queue was closed while waiting (server shutdown)."""


class PriorityQueue(Generic[T]):
    def __init__(self, capacity: int = 1_000_000) -> None:
        self.capacity = max(1, capacity)
        self._heap: list[tuple[int, int, str, T]] = []
        # items per group, kept as they come and go: a metrics scrape must not walk a
        # queue that a bulk-fetching driver filled with hundreds of thousands of jobs
        self._per_group: Counter[str] = Counter()
        self._seq = itertools.count()
        self._getters: deque[asyncio.Future[None]] = deque()
        self._putters: deque[asyncio.Future[None]] = deque()
        self._closed = False

    def __len__(self) -> int:
        return len(self._heap)

    @property
    def closed(self) -> bool:
        return self._closed

    # -- producers -----------------------------------------------------------------
    def offer(self, item: T, priority: int, group: str) -> bool:
        """Insert without waiting; False when full (or closed)."""
        if self._closed or len(self._heap) >= self.capacity or self._putters:
            return False
        self._insert(item, priority, group)
        return True

    async def put(self, item: T, priority: int, group: str) -> None:
        while len(self._heap) >= self.capacity or (self._putters and not self._closed):
            if self._closed:
                raise QueueClosed()
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._putters.append(fut)
            try:
                await fut
            finally:
                if fut in self._putters:
                    self._putters.remove(fut)
            if len(self._heap) < self.capacity:
                break
        if self._closed:
            raise QueueClosed()
        self._insert(item, priority, group)

    def _insert(self, item: T, priority: int, group: str) -> None:
        heapq.heappush(self._heap, (priority, next(self._seq), group, item))
        self._per_group[group] += 1
        self._wake_getter()

    # -- consumers -----------------------------------------------------------------
    def get_nowait(self) -> T | None:
        return self._pop() if self._heap else None

    async def get(self) -> T:
        while not self._heap:
            if self._closed:
                raise QueueClosed()
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._getters.append(fut)
            try:
                await fut
            except asyncio.CancelledError:
                # hand a wake-up we may have consumed to the next waiter
                if fut.done() and not fut.cancelled() and self._heap:
                    self._wake_getter()
                raise
            finally:
                if fut in self._getters:
                    self._getters.remove(fut)
        return self._pop()

    def _pop(self) -> T:
        entry = heapq.heappop(self._heap)
        self._per_group[entry[2]] -= 1
        self._wake_putter()
        return entry[3]

    def _wake_getter(self) -> None:
        while self._getters:
            g = self._getters.popleft()
            if not g.done():
                g.set_result(None)
                return

    def _wake_putter(self) -> None:
        while self._putters:
            p = self._putters.popleft()
            if not p.done():
                p.set_result(None)
                return

    # -- maintenance ---------------------------------------------------------------
    def remove_group(self, group: str) -> list[T]:
        """Take out every item of one pipeline (Stop/Destroy); returns them in order."""
        kept = [e for e in self._heap if e[2] != group]
        removed = sorted(e for e in self._heap if e[2] == group)
        if len(kept) != len(self._heap):
            self._heap = kept
            heapq.heapify(self._heap)
            self._per_group.pop(group, None)
            for _ in removed:
                self._wake_putter()
        return [e[3] for e in removed]

    def depths(self) -> dict[str, int]:
        """Queued items per group (metrics); groups with none are left out."""
        return {g: n for g, n in self._per_group.items() if n > 0}

    def drain(self) -> list[T]:
        """Take out everything (shutdown), in priority order."""
        items = [e[3] for e in sorted(self._heap)]
        self._heap = []
        self._per_group.clear()
        for _ in items:
            self._wake_putter()
        return items

    def close(self) -> None:
        """Wake every waiter with QueueClosed; later puts fail."""
        self._closed = True
        for f in list(self._getters) + list(self._putters):
            if not f.done():
                f.set_result(None)
