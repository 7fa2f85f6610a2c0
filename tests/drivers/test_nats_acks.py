"""rr.drivers.nats_acks: acks wait a moment for company and leave together; a failed ack
is logged (the server redelivers after ack_wait), never raised into the settlement."""

from __future__ import annotations

from typing import Any

import pytest

from rr.drivers.nats_acks import AckBatcher


class FakeMsg:
    def __init__(self, log: list[str], name: str, fail: bool = False) -> None:
        self.log, self.name, self.fail = log, name, fail

    async def ack(self) -> None:
        if self.fail:
            raise OSError("connection reset")
        self.log.append(self.name)


async def test_acks_of_one_moment_leave_in_one_batch() -> None:
    sent: list[str] = []
    acks = AckBatcher("p", (OSError,), delay=60, limit=3)
    msgs: list[Any] = [FakeMsg(sent, str(i)) for i in range(4)]
    for m in msgs:
        acks.ack(m)
    assert sent == []   # nothing went out before the loop ran
    await acks.flush()
    assert sent == ["0", "1", "2", "3"]
    assert acks.batches == 2   # the limit sent three at once, flush the fourth


async def test_a_failed_ack_is_logged_and_the_rest_still_go(
        caplog: pytest.LogCaptureFixture) -> None:
    sent: list[str] = []
    acks = AckBatcher("p", (OSError,), delay=0.001)
    acks.ack(FakeMsg(sent, "a", fail=True))  # type: ignore[arg-type]
    acks.ack(FakeMsg(sent, "b"))  # type: ignore[arg-type]
    await acks.flush()
    assert sent == ["b"]
    assert "redelivers the job after ack_wait" in caplog.text


async def test_flush_with_nothing_waiting_is_a_no_op() -> None:
    acks = AckBatcher("p", (OSError,))
    await acks.flush()
    assert acks.batches == 0
