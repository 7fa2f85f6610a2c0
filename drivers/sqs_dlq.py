"""Dead letters of an SQS pipeline (``rr jobs dlq list|replay``).

SQS has no way to look at a message without receiving it, so a listing *receives* every
message of the queue with a visibility timeout of ``LIST_VISIBILITY`` seconds, then makes
the ones not replayed visible again at once (``ChangeMessageVisibility`` 0). While a
listing or replay runs, the queue's messages are invisible to any consumer; if rr dies in
the middle they reappear after ``LIST_VISIBILITY`` seconds. Replay sends the copy to its
target first, then deletes the received message: a failure in between replays a job
twice, never loses it.

SQS keeps no order: the messages are listed by the time SQS accepted them
(``SentTimestamp``, then the message ID), which keeps ``--limit``/``--offset`` windows
stable between listings of an unchanged queue. On a FIFO queue a message group hands out
no further message while one of it is invisible, so a listing sees at most the first ten
messages of each group.
"""

from __future__ import annotations

from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from rr.errors import RRError, describe
from rr.pipeline.job import Job


class SQSPipeline(Protocol):
    """What a listing needs of the sqs driver."""
    pipeline: str
    url: str

    async def client(self) -> Any: ...

    def decode(self, message: dict[str, Any]) -> Job: ...

    async def delete(self, receipt: str) -> None: ...

    async def return_messages(self, receipts: list[str]) -> None: ...

#: seconds a listed message stays invisible if rr cannot give it back
LIST_VISIBILITY = 30
#: SQS short polling samples a subset of its servers: an empty answer is believed only
#: after this many in a row
EMPTY_RECEIVES = 2


class SQSDeadLetters:
    """One listing session: the received messages, held until ``close``."""

    def __init__(self, driver: SQSPipeline) -> None:
        self._driver = driver
        self._held: dict[str, dict[str, Any]] = {}    # MessageId -> latest received message

    async def read(self, limit: int | None, offset: int) -> list[tuple[Job, str]]:
        try:
            await self._receive_all()
        except (ClientError, BotoCoreError, OSError) as e:
            raise RRError(f"sqs pipeline {self._driver.pipeline}: listing failed: "
                          f"{describe(e)}") from e
        ordered = sorted(self._held.values(), key=_sent_order)[offset:]
        if limit is not None:
            ordered = ordered[:limit]
        return [(self._driver.decode(m), str(m.get("ReceiptHandle", ""))) for m in ordered]

    async def _receive_all(self) -> None:
        client = await self._driver.client()
        empty = 0
        while empty < EMPTY_RECEIVES:
            reply = await client.receive_message(
                QueueUrl=self._driver.url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                VisibilityTimeout=LIST_VISIBILITY, MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"])
            messages = reply.get("Messages") or []
            empty = 0 if messages else empty + 1
            for m in messages:
                self._held[str(m.get("MessageId", ""))] = m

    async def forget(self, receipt: str) -> None:
        """Delete a replayed message (it is no longer given back on ``close``)."""
        await self._driver.delete(receipt)
        for key, m in list(self._held.items()):
            if m.get("ReceiptHandle") == receipt:
                del self._held[key]

    async def close(self) -> None:
        held, self._held = self._held, {}
        await self._driver.return_messages([str(m.get("ReceiptHandle", ""))
                                            for m in held.values()])


def _sent_order(message: dict[str, Any]) -> tuple[int, str]:
    attrs = message.get("Attributes") or {}
    try:
        sent = int(attrs.get("SentTimestamp", 0))
    except (TypeError, ValueError):
        sent = 0
    return sent, str(message.get("MessageId", ""))
