"""Coalesced acks for one consume channel: fewer frames, never an ack too early.

Acking each job with its own ``basic.ack`` costs a frame, a queue hop through aiormq's
writer task, a ``write()`` and a drain future per job: with two fast workers that was a
large part of rr's CPU. Here the core's acks only mark a delivery tag; a flush - at most
``FLUSH_DELAY`` later, or at once when a quarter of the prefetch window waits - sends, in
a single write:

* ``basic.ack(top, multiple=true)`` for the highest tag ``top`` such that every tag of the
  channel up to ``top`` is settled: acked by the core, or already settled on the broker
  one by one (nack, reject, auto-ack, release). A multiple ack only touches deliveries
  still outstanding on the broker, so the individually settled ones below ``top`` are
  unaffected, and an unsettled delivery is never below ``top`` by construction;
* a plain ``basic.ack(tag)`` for each acked tag above the first unsettled one (a job
  still in a worker): those are not held back, so a slow job never keeps finished ones
  occupying the prefetch window.

Nacks keep their exact per-tag semantics: they are sent by the delivery itself, and the
tag counts as settled for the window only once the nack frame has been written, so no
later multiple ack can overtake it. Delivery tags are per channel: a window belongs to
one channel, and when that channel closes the window drops what it holds (the broker
requeues every unacked delivery of a closed channel; at-least-once holds).

One sender task at a time writes the window's frames, so two flushes can never reorder
(a multiple ack arriving after a higher one would name an already-acked tag, which
RabbitMQ answers by closing the channel).
"""

from __future__ import annotations

import asyncio
import logging

from aiormq.abc import AbstractChannel, ChannelFrame
from pamqp.commands import Basic

log = logging.getLogger("rr.jobs.amqp")

#: how long an ack may wait for neighbours to share its frame. One loop iteration is
#: not enough: with a few workers, replies arrive one per iteration. 2 ms gathers ~10
#: acks at 5k jobs/s and is far below anything a job or a redelivery notices.
FLUSH_DELAY = 0.002
#: how long a stop waits for the last acks to be written
FLUSH_TIMEOUT = 5.0


class AckWindow:
    """Settlement bookkeeping of one channel's delivery tags (see the module docstring)."""

    def __init__(self, channel: AbstractChannel, prefetch: int,
                 delay: float = FLUSH_DELAY) -> None:
        self.channel = channel
        #: flush at once when this many acks wait: the broker sends no more deliveries
        #: while the prefetch window is full of finished-but-unacked jobs
        self.batch_limit = max(1, prefetch // 4)
        self.delay = delay
        self._timer: asyncio.TimerHandle | None = None
        #: every tag <= floor is settled on the broker (or covered by a queued ack)
        self.floor = 0
        #: acked by the core, not yet sent
        self._acked: set[int] = set()
        #: above floor, already settled on the broker one by one
        self._settled: set[int] = set()
        self._sender: asyncio.Task[None] | None = None
        self.closed = False
        #: ack frames and socket writes so far (tests and curiosity)
        self.frames_sent = 0
        self.writes = 0
        self._wait_written = False

    # -- marking -----------------------------------------------------------------------
    def ack(self, tag: int) -> None:
        """The core acked ``tag``: it goes out with the next flush."""
        if self.closed or tag <= self.floor:
            return
        acked = self._acked
        acked.add(tag)
        if len(acked) >= self.batch_limit:
            self._kick()
        elif self._timer is None and self._sender is None:
            self._timer = asyncio.get_running_loop().call_later(self.delay, self._kick)

    def settled(self, tag: int) -> None:
        """``tag`` was settled on the broker by its own frame (already written)."""
        if self.closed or tag <= self.floor:
            return
        self._settled.add(tag)
        if not self._acked:  # otherwise the pending flush walks over it
            self._advance_over_settled()

    def close(self) -> None:
        """The channel is gone: whatever is held here is the broker's to redeliver."""
        self.closed = True
        self._cancel_timer()
        self._acked.clear()
        self._settled.clear()

    @property
    def pending(self) -> int:
        return len(self._acked)

    # -- flushing ----------------------------------------------------------------------
    async def flush(self) -> None:
        """Send what is pending now and wait until it is written (used before a close)."""
        self._wait_written = True
        self._kick()
        sender = self._sender
        if sender is not None:
            try:
                await asyncio.wait_for(asyncio.shield(sender), FLUSH_TIMEOUT)
            except TimeoutError:
                # a connection dying under us never resolves its drain; the broker
                # redelivers whatever did not make it
                log.warning("amqp: ack flush not written within %ss", FLUSH_TIMEOUT)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _kick(self) -> None:
        self._cancel_timer()
        if self._sender is None and not self.closed:
            # a task's first step runs on the next loop iteration: every ack settled in
            # this one goes out in the same write
            self._sender = asyncio.get_running_loop().create_task(self._send_loop())

    async def _send_loop(self) -> None:
        try:
            while not self.closed and self._acked:
                frames = self._collect()
                if not frames:
                    break
                if self.channel.is_closed:
                    self.close()
                    break
                written = (asyncio.get_running_loop().create_future()
                           if self._wait_written else None)
                await self.channel.connection.write_queue.put(ChannelFrame.marshall(
                    channel_number=self.channel.number, frames=frames,
                    drain_future=written))
                if written is not None:
                    await written
                self.frames_sent += len(frames)
                self.writes += 1
        except Exception as exc:  # noqa: BLE001 - a dead channel: the broker redelivers
            log.debug("amqp ack flush failed: %r", exc)
            self.close()
        finally:
            self._sender = None

    def _collect(self) -> list[Basic.Ack]:
        """The frames for everything acked so far; updates the bookkeeping as sent."""
        acked, settled = self._acked, self._settled
        tag = self.floor + 1
        top = 0
        while True:
            if tag in acked:
                acked.discard(tag)
                top = tag
            elif tag in settled:
                settled.discard(tag)
            else:
                break
            tag += 1
        self.floor = tag - 1
        frames = [Basic.Ack(delivery_tag=top, multiple=True)] if top else []
        if acked:
            # above a delivery still in a worker: one by one, now
            for straggler in sorted(acked):
                frames.append(Basic.Ack(delivery_tag=straggler, multiple=False))
            settled.update(acked)
            acked.clear()
        return frames

    def _advance_over_settled(self) -> None:
        settled = self._settled
        tag = self.floor + 1
        while tag in settled:
            settled.discard(tag)
            tag += 1
        self.floor = tag - 1
