"""Batched acks for the redis driver: one ``XACK`` (+ ``XDEL``) round trip per batch.

Acking each job with its own round trip cost about as much rr CPU as running the job on a
PHP worker: a redis-py pipeline is built, packed, sent and parsed per ack, and acks that
only share a round trip while another one is on the wire come in ones and twos with fast
workers. Here the core's ack only records the entry id; a flush - at most ``FLUSH_DELAY``
later, or at once when ``batch_limit`` ids wait - sends them all in one pipeline.

Nothing is lost by answering the ack before Redis has it: until the flush the entry stays
in the group's pending list, so if rr dies first (or the flush fails and keeps failing
past ``visibility_timeout``) the entry is reclaimed and run again - a duplicate, never a
loss, which is the at-least-once rule of every durable driver. A failed flush keeps its
ids and tries again after ``RETRY_DELAY``; the driver's stop flushes what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

#: how long an ack may wait for neighbours to share its round trip (see amqp_acks: one
#: loop iteration gathers too few with a handful of workers)
FLUSH_DELAY = 0.002
#: pause before a failed flush is tried again
RETRY_DELAY = 1.0


class AckBuffer:
    """Entry ids acked by the core and not yet sent, and the one task sending them."""

    def __init__(self, send: Callable[[list[str]], Awaitable[None]], batch_limit: int,
                 on_error: Callable[[BaseException], None], on_sent: Callable[[], None],
                 delay: float = FLUSH_DELAY) -> None:
        self._send = send
        self._on_error = on_error
        self._on_sent = on_sent
        self.batch_limit = max(1, batch_limit)
        self.delay = delay
        self._ids: list[str] = []
        self._timer: asyncio.TimerHandle | None = None
        self._sender: asyncio.Task[None] | None = None
        #: set by the final flush: nothing is sent after it
        self.closed = False
        #: round trips so far (tests and curiosity)
        self.flushes = 0

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, entry_id: str) -> None:
        self._ids.append(entry_id)
        if self._sender is not None:
            return  # the sender takes what accumulated when its round trip is back
        if len(self._ids) >= self.batch_limit:
            self._kick()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.delay, self._kick)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _kick(self) -> None:
        self._cancel_timer()
        if self._sender is None and self._ids and not self.closed:
            self._sender = asyncio.get_running_loop().create_task(self._send_batches())

    async def _send_batches(self) -> None:
        try:
            while self._ids:
                batch, self._ids = self._ids, []
                try:
                    await self._send(batch)
                except Exception as e:  # noqa: BLE001 - kept for the next attempt
                    self._ids[:0] = batch
                    self._on_error(e)
                    self._timer = asyncio.get_running_loop().call_later(RETRY_DELAY,
                                                                        self._kick)
                    return
                self.flushes += 1
                self._on_sent()
                if len(self._ids) < self.batch_limit:
                    break  # a few stragglers: give them FLUSH_DELAY to gather company
        finally:
            self._sender = None
        if self._ids and self._timer is None and not self.closed:
            self._timer = asyncio.get_running_loop().call_later(self.delay, self._kick)

    async def flush(self, timeout: float) -> bool:
        """Send everything now, once, and stop sending (driver stop); True when nothing
        is left unsent."""
        self.closed = True
        try:
            return await self._flush(timeout)
        finally:
            self._cancel_timer()  # a failed sender may have armed its retry meanwhile

    async def _flush(self, timeout: float) -> bool:
        self._cancel_timer()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if self._sender is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(self._sender),
                                           max(0.0, deadline - loop.time()))
                continue
            if not self._ids:
                return True
            batch, self._ids = self._ids, []
            try:
                await asyncio.wait_for(self._send(batch), max(0.0, deadline - loop.time()))
            except Exception as e:  # noqa: BLE001
                self._ids[:0] = batch
                self._on_error(e)
                return False
            self.flushes += 1
        return not self._ids

    def discard(self) -> list[str]:
        """Forget what was not sent (the connection is gone for good)."""
        self._cancel_timer()
        ids, self._ids = self._ids, []
        return ids
