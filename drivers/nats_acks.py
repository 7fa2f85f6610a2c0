"""JetStream acks written together instead of one socket write each.

An ack is a plain publish to the message's reply subject: nothing waits for the server.
nats-py writes whatever is pending each time its flusher runs, and acks settled in
different loop turns (one per worker reply) were one ``send`` each - the biggest single
cost of the nats driver at full speed. Here an ack waits at most ``DELAY`` (or until
``LIMIT`` are waiting) and the batch is published in one go, so it leaves in one write.

At-least-once is unchanged: an ack that never leaves (rr dies within those milliseconds,
or the connection drops) is redelivered by the server after ``ack_wait``, exactly like an
ack lost on the wire. The settlement itself no longer awaits anything, so the jobs core
settles a nats job without a task.
"""

from __future__ import annotations

import asyncio
import logging

from nats.aio.msg import Msg

log = logging.getLogger("rr.jobs.nats")

#: how long an ack may wait for company (seconds)
DELAY = 0.002
#: acks that go out at once without waiting for the timer
LIMIT = 64


class AckBatcher:
    def __init__(self, pipeline: str, errors: tuple[type[BaseException], ...],
                 delay: float = DELAY, limit: int = LIMIT) -> None:
        self._pipeline = pipeline
        self._errors = errors
        self.delay = delay
        self.limit = max(1, limit)
        self._waiting: list[Msg] = []
        self._timer: asyncio.TimerHandle | None = None
        self._sending: set[asyncio.Task[None]] = set()
        #: batches published so far (tests and curiosity)
        self.batches = 0

    def ack(self, msg: Msg) -> None:
        self._waiting.append(msg)
        if len(self._waiting) >= self.limit:
            self._kick()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.delay, self._kick)

    def _kick(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._waiting:
            return
        batch, self._waiting = self._waiting, []
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[Msg]) -> None:
        self.batches += 1
        for msg in batch:
            try:
                await msg.ack()
            except self._errors as e:
                log.warning("nats pipeline %s: ack failed (%s); the server redelivers the "
                            "job after ack_wait", self._pipeline, e)

    async def flush(self) -> None:
        """Publish what waits now and wait until every batch is handed to the client."""
        self._kick()
        if self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)
