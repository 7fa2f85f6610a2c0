"""``max_concurrent_streams`` as a per-connection queue (see ``server.channel_options``)."""

from __future__ import annotations

import asyncio
from collections import deque


class StreamLimiter:
    """At most ``limit`` calls of one connection (grpcio's peer string, which holds the
    client's port) run at a time; the others wait in FIFO order. State exists only for
    connections with calls in progress, so idle or hostile clients cost nothing."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._active: dict[str, int] = {}
        self._waiting: dict[str, deque[asyncio.Future[None]]] = {}

    async def acquire(self, peer: str) -> None:
        n = self._active.get(peer, 0)
        if n < self.limit:
            self._active[peer] = n + 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(peer, deque()).append(fut)
        try:
            await fut  # the releasing call hands its slot over
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release(peer)  # the slot arrived together with the cancellation
            else:
                q = self._waiting.get(peer)
                if q is not None and fut in q:
                    q.remove(fut)
                    if not q:
                        del self._waiting[peer]
            raise

    def release(self, peer: str) -> None:
        q = self._waiting.get(peer)
        while q:
            fut = q.popleft()
            if not q:
                del self._waiting[peer]
            if not fut.done():
                fut.set_result(None)
                return
        n = self._active.get(peer, 1) - 1
        if n <= 0:
            self._active.pop(peer, None)
        else:
            self._active[peer] = n
