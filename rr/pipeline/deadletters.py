"""Listing and replay sessions for drivers whose dead letters stay on the broker.

``rr jobs dlq`` lists a pipeline's stored jobs, then (replay) removes some of them one by
one and finally ends the listing (rr/jobs/rpc.py). Brokers that must hold what they listed
until the end (SQS keeps the messages invisible, Kafka remembers what the listing saw to
commit safely) do it in a session object; this mixin gives a driver the three methods the
jobs RPC calls and keeps at most one session open per pipeline.
"""

from __future__ import annotations

from typing import Any, Protocol

from rr.errors import RRError
from rr.pipeline.job import Job

#: Set on a dead-lettered copy (and on a listed beanstalk buried job): the pipeline it
#: came from, and why it was given up.
DEAD_LETTER_FROM = "rr-dead-letter-from"
DEAD_LETTER_REASON = "rr-dead-letter-reason"


def lists_dead_letters(driver: object) -> bool:
    """Whether ``rr jobs dlq`` can list and replay the jobs of a pipeline on this driver:
    brokers list them in place (``dead_letters``), the memory driver from its buffer
    (``browse``). The jobs RPC and the dashboard ask the same question."""
    return hasattr(driver, "dead_letters") or hasattr(driver, "browse")


class DeadLetterSession(Protocol):
    async def read(self, limit: int | None, offset: int) -> list[tuple[Job, Any]]:
        """The dead letters in the window, each with the reference ``forget`` takes."""

    async def forget(self, ref: Any) -> None:
        """Remove one listed dead letter (it was replayed)."""

    async def close(self) -> None:
        """Give back whatever the session still holds."""


class HeldDeadLetters:
    """Mixin: ``dead_letters`` / ``forget`` / ``dead_letters_done`` over one session."""

    pipeline: str
    _dlq: DeadLetterSession | None = None

    def dead_letter_session(self) -> DeadLetterSession:
        raise NotImplementedError

    async def dead_letters(self, limit: int | None, offset: int) -> list[tuple[Job, Any]]:
        await self.dead_letters_done()
        self._dlq = self.dead_letter_session()
        try:
            return await self._dlq.read(limit, offset)
        except BaseException:
            await self.dead_letters_done()
            raise

    async def forget(self, ref: Any) -> None:
        if self._dlq is None:
            raise RRError(f"pipeline {self.pipeline}: the dead letters are not listed")
        await self._dlq.forget(ref)

    async def dead_letters_done(self) -> None:
        session, self._dlq = self._dlq, None
        if session is not None:
            await session.close()
