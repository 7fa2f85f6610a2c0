"""The sink driver-level tests hand to a driver: it collects deliveries the way the
jobs core's priority queue would (and, with ``limit``, blocks like a full one)."""

from __future__ import annotations

import asyncio

from rr.pipeline.driver import Delivery


class Inbox:
    def __init__(self, limit: int | None = None, timeout: float = 30.0) -> None:
        self.queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self.limit = limit
        self.timeout = timeout
        self.accepted = 0

    async def __call__(self, delivery: Delivery) -> None:
        if self.limit is not None and self.accepted >= self.limit:
            await asyncio.Event().wait()
        self.accepted += 1
        self.queue.put_nowait(delivery)

    async def next(self, timeout: float | None = None) -> Delivery:
        return await asyncio.wait_for(self.queue.get(), timeout or self.timeout)

    async def nothing_for(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self.queue.get(), seconds)
        except TimeoutError:
            return True
        return False
