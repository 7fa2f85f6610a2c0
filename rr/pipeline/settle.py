"""What the broker drivers with their own consume loop share (nats, beanstalk, redis).

* ``SettleOnce``: a delivery is settled at most once. The first ack / nack / requeue takes
  it out of the driver's in-flight table (``release``) and tells the broker; a second
  call is a no-op, and any call after the driver stopped raises ``STOPPED`` (the core
  only logs it). An auto-acked job was settled on receipt: it is released, the broker
  hears nothing more.
* ``ConsumeLoops``: the driver's consume tasks, pause (stop the loops, keep what the
  core already holds) and the stopped check.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from rr.errors import RRError
from rr.pipeline.driver import Delivery, join_tasks

STOPPED = "failed to acknowledge the JOB, the pipeline is probably stopped"


class Owner(Protocol):
    @property
    def stopped(self) -> bool: ...

    def release(self, delivery: Any) -> None:
        """Mark ``delivery`` settled and take it out of the in-flight table."""


class SettleOnce(Delivery):
    """Base of a delivery that must reach the broker at most once."""

    driver: Owner
    settled: bool = False
    #: acked on receipt (auto_ack): later settlements do not touch the broker
    auto_acked: bool = False

    def _claim(self) -> bool:
        """True when this call settles the delivery and the broker must hear of it."""
        if self.driver.stopped:
            raise RRError(STOPPED)
        if self.settled:
            return False
        self.driver.release(self)
        return not self.auto_acked


class ConsumeLoops:
    """Mixin for a driver whose consume loops run while ``_consuming`` is true and wait
    on ``_slots`` for room in the prefetch window."""

    _stopped: bool
    _consuming: bool
    _slots: asyncio.Event
    _tasks: list[asyncio.Task[None]]

    @property
    def stopped(self) -> bool:
        return self._stopped

    def _check_open(self) -> None:
        if self._stopped:
            raise RRError(STOPPED)

    def _wake_loops(self) -> None:
        """Wake every loop so it sees ``_consuming`` is false (more events: override)."""
        self._slots.set()

    async def _pause_loops(self, timeout: float) -> None:
        """Stop fetching; jobs already handed to the core keep running and their
        settlements still reach the broker (spec: pause never purges the queue)."""
        self._check_open()
        if not self._consuming:
            raise RRError("no active listeners, nothing to pause")
        self._consuming = False
        self._wake_loops()
        await join_tasks(self._tasks, timeout=timeout)
