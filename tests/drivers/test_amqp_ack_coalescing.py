"""Coalesced acks (drivers/amqp_acks.py): fewer frames, and never an ack for a delivery
the core has not settled - checked against a model of the broker's outstanding set and
against RabbitMQ itself (what comes back after the channel closes)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aio_pika
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rr.drivers.amqp import AMQPDelivery, AMQPDriver
from rr.drivers.amqp_acks import AckWindow
from tests.drivers.proxy import TCPProxy
from tests.drivers.test_amqp_driver import Collector, eventually, job, make  # noqa: F401

NO_CHANNEL: Any = None


# -- the bookkeeping against a model of the broker ---------------------------------------
class Broker:
    """What RabbitMQ tracks for one channel: the outstanding (unacked) delivery tags."""

    def __init__(self, tags: int) -> None:
        self.outstanding = set(range(1, tags + 1))

    def apply(self, frames: list[Any]) -> set[int]:
        removed: set[int] = set()
        for frame in frames:
            tag = frame.delivery_tag
            # acking an unknown tag is a channel error on RabbitMQ
            assert tag in self.outstanding, f"ack of unknown tag {tag}"
            covered = ({t for t in self.outstanding if t <= tag} if frame.multiple
                       else {tag})
            self.outstanding -= covered
            removed |= covered
        return removed


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_window_never_acks_an_unsettled_tag(data: st.DataObject) -> None:
    tags = data.draw(st.integers(1, 40), label="tags")
    order = data.draw(st.permutations(range(1, tags + 1)), label="settle order")
    # each tag: acked by the core, settled on its own (nack/reject/auto-ack), or left
    # in a worker forever
    fates = data.draw(st.lists(st.sampled_from(["ack", "own", "open"]), min_size=tags,
                               max_size=tags), label="fates")
    flush_after = data.draw(st.sets(st.integers(0, tags)), label="flush points")
    window = AckWindow(NO_CHANNEL, prefetch=100)   # _collect never touches the channel
    broker = Broker(tags)
    acked_by_core: set[int] = set()
    for step, tag in enumerate(order):
        fate = fates[tag - 1]
        if fate == "ack":
            acked_by_core.add(tag)
            window._acked.add(tag)
        elif fate == "own":
            broker.apply([_Ack(tag, multiple=False)])   # the nack frame, written first
            window._settled.add(tag)
        if step in flush_after:
            removed = broker.apply(window._collect())
            assert removed <= acked_by_core, "a frame covered a delivery nobody acked"
    removed = broker.apply(window._collect())
    assert removed <= acked_by_core
    still_open = {t for t in range(1, tags + 1) if fates[t - 1] == "open"}
    assert broker.outstanding == still_open  # every ack went out, nothing else did


class _Ack:
    def __init__(self, tag: int, multiple: bool) -> None:
        self.delivery_tag, self.multiple = tag, multiple


# -- against RabbitMQ ---------------------------------------------------------------------

async def _take(sink: Collector, n: int) -> list[AMQPDelivery]:
    got = [await sink.next() for _ in range(n)]
    deliveries = [d for d in got if isinstance(d, AMQPDelivery)]
    return sorted(deliveries, key=lambda d: d.delivery_tag)


async def _drain_queue(url: str, queue: str) -> list[tuple[bytes, bool]]:
    """Everything ready in ``queue`` as (body, redelivered), acked away."""
    conn = await aio_pika.connect(url)
    found: list[tuple[bytes, bool]] = []
    async with conn:
        ch = await conn.channel()
        q = await ch.declare_queue(queue, passive=True)
        while (message := await q.get(fail=False, no_ack=True)) is not None:
            found.append((message.body, bool(message.redelivered)))
    return found


@pytest.mark.broker("rabbitmq")
async def test_out_of_order_settlement_leaves_exactly_the_unsettled(
        make: Callable[..., AMQPDriver], rabbitmq_url: str) -> None:  # noqa: F811
    sink = Collector()
    d = make(sink, prefetch=50)
    for i in range(10):
        await d.push(job(d.pipeline, str(i).encode()))
    await d.run()
    ds = await _take(sink, 10)
    assert [x.delivery_tag for x in ds] == list(range(1, 11))
    window = d._ack_window
    assert window is not None
    await ds[0].ack()
    await ds[1].ack()
    await ds[2].nack(requeue=True)        # in the middle of a run of acks: must come back
    await ds[3].ack()
    await ds[4].ack()
    # ds[5] stays in its "worker"
    await ds[6].ack()
    await ds[7].ack()
    await ds[8].nack(requeue=False)       # dropped (no dead-letter exchange)
    # ds[9] stays in its "worker"
    await window.flush()
    assert window.frames_sent < 6          # six acks, coalesced into fewer frames
    again = await sink.next()              # the requeued job, redelivered on this channel
    assert again.job.payload == b"2"
    await d.stop()                         # closes the channel: unacked ones go back
    left = await _drain_queue(rabbitmq_url, d.cfg.queue)
    assert sorted(body for body, _ in left) == [b"2", b"5", b"9"]
    assert all(redelivered for _, redelivered in left)


@pytest.mark.broker("rabbitmq")
async def test_acks_above_a_slow_job_free_the_prefetch_window(
        make: Callable[..., AMQPDriver]) -> None:  # noqa: F811
    sink = Collector()
    d = make(sink, prefetch=2)
    for i in range(3):
        await d.push(job(d.pipeline, str(i).encode()))
    await d.run()
    slow, fast = await _take(sink, 2)
    await fast.ack()                       # tag 2 while tag 1 is still in a worker
    third = await sink.next()              # only arrives once the broker has that ack
    assert third.job.payload == b"2"
    await slow.ack()
    await third.ack()
    await d.stop()


@pytest.mark.broker("rabbitmq")
async def test_reconnect_starts_a_fresh_window(make: Callable[..., AMQPDriver],  # noqa: F811
                                               rabbitmq_port: int, rabbitmq_url: str) -> None:
    with TCPProxy("127.0.0.1", rabbitmq_port) as proxy:
        sink = Collector()
        d = make(sink, addr=f"amqp://guest:guest@{proxy.address}/", durable=True,
                 prefetch=10)
        for i in range(4):
            await d.push(job(d.pipeline, str(i).encode()))
        await d.run()
        first = await _take(sink, 4)
        old_window = d._ack_window
        await first[0].ack()
        await first[1].ack()
        assert old_window is not None
        await old_window.flush()
        # a synchronous method on the same channel: RabbitMQ has processed the acks
        assert d._consume_ch is not None
        await d._consume_ch.set_qos(prefetch_count=10)
        proxy.cut()
        await eventually(lambda: _disconnected(d))
        proxy.restore()
        # the broker redelivers the two unacked jobs on the new channel, tags from 1
        again = await _take(sink, 2)
        assert sorted(x.job.payload for x in again) == [b"2", b"3"]
        assert [x.delivery_tag for x in again] == [1, 2]
        assert d._ack_window is not None and d._ack_window is not old_window
        assert old_window.closed
        for x in again:
            await x.ack()
        await d._ack_window.flush()
        await d.stop()                     # anything unacked would go back to the queue
    assert await _drain_queue(rabbitmq_url, d.cfg.queue) == []


async def _disconnected(d: AMQPDriver) -> bool:
    return not (await d.state()).connected


async def test_flush_of_a_closed_window_returns() -> None:
    window = AckWindow(NO_CHANNEL, prefetch=10)
    window.close()
    window.ack(1)
    await asyncio.wait_for(window.flush(), 5)
    assert window.pending == 0
