"""Acks as ``DeleteMessageBatch``: up to ten receipts per SQS request instead of one each.

Every SQS request is a signed HTTPS round trip (and, on moto or ElasticMQ, most of the
server's work), so deleting each acked message on its own made rr spend several
milliseconds of CPU per job and the server serve ten times the requests a plain client
needs. Here a delete waits at most ``FLUSH_DELAY`` for company; ten waiting receipts go at
once. Each caller still learns its own outcome: the batch reply lists failed entries one
by one, and a failed request fails every delete in it (the message then reappears after
its visibility timeout and runs again - at-least-once, never lost).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from rr.errors import RRError

#: SQS accepts at most ten entries per batch request
BATCH_LIMIT = 10
#: how long a delete may wait for others to share its request
FLUSH_DELAY = 0.005

#: sends one batch; returns {index in the batch: error text} for the entries that failed
SendBatch = Callable[[list[str]], Awaitable[dict[int, str]]]


class DeleteBatcher:
    def __init__(self, send: SendBatch, delay: float = FLUSH_DELAY,
                 limit: int = BATCH_LIMIT) -> None:
        self._send = send
        self.delay = delay
        self.limit = max(1, min(limit, BATCH_LIMIT))
        self._waiting: list[tuple[str, asyncio.Future[None]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._sending: set[asyncio.Task[None]] = set()
        #: requests sent so far (tests and curiosity)
        self.requests = 0

    async def delete(self, receipt: str) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._waiting.append((receipt, done))
        if len(self._waiting) >= self.limit:
            self._kick()
        elif self._timer is None:
            self._timer = loop.call_later(self.delay, self._kick)
        await done

    def _kick(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        loop = asyncio.get_running_loop()
        while self._waiting:
            batch, self._waiting = self._waiting[:self.limit], self._waiting[self.limit:]
            task = loop.create_task(self._deliver(batch))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _deliver(self, batch: list[tuple[str, asyncio.Future[None]]]) -> None:
        self.requests += 1
        try:
            failed = await self._send([receipt for receipt, _ in batch])
        except Exception as exc:  # noqa: BLE001 - handed to every caller of the batch
            for _, done in batch:
                if not done.done():
                    done.set_exception(exc)
            return
        for i, (_, done) in enumerate(batch):
            if done.done():
                continue
            if i in failed:
                done.set_exception(RRError(f"sqs: delete failed: {failed[i]}"))
            else:
                done.set_result(None)

    async def flush(self) -> None:
        """Send what waits now and wait for every request in flight (stop)."""
        self._kick()
        if self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)
