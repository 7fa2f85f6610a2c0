"""The ``memory`` KV driver: a dict in this process, with exact TTL expiry.

RoadRunner arms a per-key timer of floor(expiry - now) whole seconds and stores a key
*without* TTL when that is <= 0, so a 1-second TTL can become permanent. Here a key
expires at the exact instant it was given: reads treat an expired key as missing, and a
single sweeper task deletes keys as they expire so that memory does not grow with keys
nobody reads again. A Set whose expiry is already in the past stores nothing (the item
is expired on arrival, as PSR-16 requires for a ttl <= 0).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import time
from dataclasses import dataclass

from rr.kv.storage import Entry


@dataclass(slots=True)
class _Item:
    value: bytes
    expires_at: float | None


class MemoryStorage:
    driver = "memory"

    def __init__(self, name: str) -> None:
        self.name = name
        self._items: dict[str, _Item] = {}
        # (expires_at, key): may hold stale entries; the sweeper re-checks the item
        self._expiries: list[tuple[float, str]] = []
        self._wakeup = asyncio.Event()
        self._sweeper: asyncio.Task[None] | None = None

    # lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep(), name=f"kv-{self.name}-sweeper")

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        self._items.clear()
        self._expiries.clear()

    def __len__(self) -> int:
        """Stored items including expired ones not yet swept (tests check for leaks)."""
        return len(self._items)

    def pending_expiries(self) -> int:
        return len(self._expiries)

    # expiry ---------------------------------------------------------------------------
    def _live(self, key: str, now: float) -> _Item | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item.expires_at is not None and item.expires_at <= now:
            del self._items[key]
            return None
        return item

    def _schedule(self, key: str, expires_at: float) -> None:
        earliest = self._expiries[0][0] if self._expiries else None
        heapq.heappush(self._expiries, (expires_at, key))
        if earliest is None or expires_at < earliest:
            self._wakeup.set()

    async def _sweep(self) -> None:
        while True:
            now = time.time()
            while self._expiries and self._expiries[0][0] <= now:
                expires_at, key = heapq.heappop(self._expiries)
                item = self._items.get(key)
                if item is not None and item.expires_at == expires_at:
                    del self._items[key]
            self._wakeup.clear()
            delay = self._expiries[0][0] - now if self._expiries else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), delay)

    def _drop_stale_schedule(self) -> None:
        """Replaced or deleted keys leave heap entries behind; rebuild when they dominate."""
        if len(self._expiries) > 64 and len(self._expiries) > 2 * len(self._items):
            self._expiries = [(at, key) for at, key in self._expiries
                              if (item := self._items.get(key)) is not None
                              and item.expires_at == at]
            heapq.heapify(self._expiries)

    # operations -----------------------------------------------------------------------
    async def has(self, keys: list[str]) -> list[str]:
        now = time.time()
        return [k for k in keys if self._live(k, now) is not None]

    async def set(self, entries: list[Entry]) -> None:
        now = time.time()
        for entry in entries:
            if entry.expires_at is not None and entry.expires_at <= now:
                self._items.pop(entry.key, None)
                continue
            self._items[entry.key] = _Item(entry.value, entry.expires_at)
            if entry.expires_at is not None:
                self._schedule(entry.key, entry.expires_at)
        self._drop_stale_schedule()

    async def mget(self, keys: list[str]) -> dict[str, bytes]:
        now = time.time()
        found: dict[str, bytes] = {}
        for k in keys:
            item = self._live(k, now)
            if item is not None:
                found[k] = item.value
        return found

    async def mexpire(self, expiries: dict[str, float]) -> None:
        # RoadRunner replaces a key that has no TTL with the request's (empty) value; the
        # value is kept here, only the expiry changes.
        now = time.time()
        for key, expires_at in expiries.items():
            item = self._live(key, now)
            if item is None:
                continue
            if expires_at <= now:
                del self._items[key]
                continue
            item.expires_at = expires_at
            self._schedule(key, expires_at)
        self._drop_stale_schedule()

    async def ttl(self, keys: list[str]) -> dict[str, float | None]:
        now = time.time()
        out: dict[str, float | None] = {}
        for k in keys:
            item = self._live(k, now)
            if item is not None:
                out[k] = item.expires_at
        return out

    async def delete(self, keys: list[str]) -> None:
        for k in keys:
            self._items.pop(k, None)
        self._drop_stale_schedule()

    async def clear(self) -> None:
        self._items.clear()
        self._expiries.clear()
