"""An in-process stand-in for the worker pool, for unit tests of the jobs core only.

Integration tests use the real pool with php-cli workers (tests/jobs/test_e2e_*.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from rr.pool.config import PoolConfig
from rr.pool.payload import Payload

Handler = Callable[[dict[str, Any], bytes], Awaitable[bytes]]


class FakePool:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.seen: list[dict[str, Any]] = []
        self.flags: list[int] = []
        self.started = False
        self.destroyed = False
        self.cfg = PoolConfig()

    async def start(self) -> None:
        self.started = True

    async def exec(self, p: Payload) -> Payload:
        ctx = json.loads(p.context)
        self.seen.append(ctx)
        self.flags.append(p.flags)
        body = await self.handler(ctx, p.body)
        return Payload(b"", body)

    async def destroy(self, timeout: float | None = None) -> None:
        self.destroyed = True

    async def reset(self) -> None:
        pass

    def ready(self) -> bool:
        return self.started and not self.destroyed

    def alive(self) -> bool:
        return self.ready()

    def workers(self) -> list[Any]:
        return []


async def ack(ctx: dict[str, Any], body: bytes) -> bytes:
    await asyncio.sleep(0)
    return b'{"type":2,"data":[]}'
