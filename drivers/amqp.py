"""RabbitMQ (AMQP 0-9-1) pipelines with aio-pika (spec/drivers.md §2).

One connection per pipeline with a publish channel in confirm mode, a state channel and,
while consuming, a consume channel. Jobs are acked on the broker only after the core
settles the delivery, so a crashed worker, a crashed rr or a dropped connection leaves
the message un-acked and RabbitMQ redelivers it.

The connection is supervised: when it (or one of its channels) closes unexpectedly the
driver redials with exponential backoff, re-declares the topology and resumes consuming
if it was consuming. It never gives up: RoadRunner asks the plugin to re-create the
pipeline after ``redial_timeout``, which amounts to the same redial loop; here the
timeout only escalates the log level so a long outage is never silent.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import random
import time
from collections.abc import Callable
from typing import Any

import aio_pika
import aiormq.exceptions
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractExchange,
    AbstractQueue,
)
from aiormq.abc import DeliveredMessage

from rr.drivers.amqp_acks import AckWindow
from rr.drivers.amqp_codec import Int32, envelope, job_from_message, routing_key_for
from rr.drivers.amqp_config import EMPTY_QUEUE, EMPTY_ROUTING_KEY, AMQPConfig
from rr.errors import RRError, describe
from rr.pipeline.driver import Delivery, Driver, PipelineOptions, PipelineState, Sink
from rr.pipeline.job import Headers, Job

log = logging.getLogger("rr.jobs.amqp")

STOPPED = "failed to acknowledge the JOB, the pipeline is probably stopped"
CLOSED_STATE = "connection is closed, can't get the state"
CHANNEL_GONE = ("the channel this job arrived on is closed; the broker redelivers the job, "
                "so this settlement is dropped")
REDIAL_FIRST, REDIAL_FACTOR, REDIAL_CAP = 0.5, 1.5, 60.0

# broker refusals that a reconnect would not cure: report them to the caller
_PERMANENT = (aiormq.exceptions.ChannelPreconditionFailed,
              aiormq.exceptions.ChannelNotFoundEntity,
              aiormq.exceptions.ChannelAccessRefused,
              aiormq.exceptions.ChannelLockedResource)
_TRANSIENT = (aiormq.exceptions.AMQPError, aiormq.exceptions.ChannelInvalidStateError,
              ConnectionError, OSError, asyncio.TimeoutError)


class AMQPDelivery(Delivery):
    """A received message; settling it talks to the channel it arrived on.

    ``message`` is aiormq's DeliveredMessage: consuming below aio-pika skips its
    IncomingMessage wrapper and a second task per message, which cost more than
    decoding the frames themselves."""

    def __init__(self, driver: AMQPDriver, message: DeliveredMessage, job: Job,
                 channel: AbstractChannel, generation: int,
                 window: AckWindow | None) -> None:
        self.job = job
        self.message = message
        self.channel = channel
        #: coalesces this channel's acks; None under multiple_ack (acks go out directly)
        self.window = window
        self.delivery_tag: int = message.delivery_tag or 0
        self.generation = generation
        self.auto_acked = False
        self._driver = driver
        self._settled = False

    def context(self) -> bytes:
        return self.job.context_bytes("amqp", queue=self._driver.cfg.queue)

    def _claim(self) -> None:
        """Exactly one settlement per delivery, and only while the pipeline lives."""
        if self._driver.stopped:
            raise RRError(STOPPED)
        if self._settled:
            raise RRError(f"job {self.job.id} is already settled")
        self._settled = True
        self._driver.finished(self)

    def _channel_alive(self) -> bool:
        return self.generation == self._driver.generation and not self.channel.is_closed

    async def _settle(self, ack: bool, requeue: bool = False, multiple: bool = False) -> None:
        if not self._channel_alive():
            raise RRError(CHANNEL_GONE)
        window = self.window
        if ack and not multiple and window is not None:
            # sent with the next flush, coalesced with its neighbours (drivers/amqp_acks)
            window.ack(self.delivery_tag)
            return
        try:
            underlay = self.message.channel
            if ack:
                await underlay.basic_ack(self.delivery_tag, multiple=multiple)
            else:
                await underlay.basic_nack(self.delivery_tag, multiple=False, requeue=requeue)
        except _TRANSIENT as exc:
            raise RRError(f"{CHANNEL_GONE} ({exc!r})") from exc
        if window is not None:
            # written: from now on a multiple ack above this tag cannot overtake it
            window.settled(self.delivery_tag)

    async def ack(self) -> None:
        self._claim()
        if not self.auto_acked:
            # multiple_ack keeps RoadRunner's meaning: basic.ack(multiple=true) right away,
            # which also acks every lower tag of the channel - including jobs still in
            # other workers, so a crash then loses them. The default coalesces safely.
            await self._settle(True, multiple=self._driver.cfg.multiple_ack)

    async def nack(self, requeue: bool | None = None, delay: int = 0) -> None:
        if requeue and delay > 0:
            await self.requeue(None, delay)
            return
        self._claim()
        if not self.auto_acked:
            again = self._driver.cfg.requeue_on_fail if requeue is None else requeue
            await self._settle(False, requeue=again)

    async def release(self) -> None:
        """Unstarted at shutdown: hand it straight back so another consumer can take it."""
        if self._settled or self.auto_acked:
            return
        self._settled = True
        with contextlib.suppress(Exception):
            await self._settle(False, requeue=True)

    async def requeue(self, headers: Headers | None, delay: int) -> None:
        self._claim()
        copy = dataclasses.replace(self.job, headers=self.job.merged_headers(headers),
                                   delay=max(0, delay))
        try:
            await self._driver.publish(copy, wait_for_connection=False)
        except Exception:
            if not self.auto_acked:
                with contextlib.suppress(RRError):
                    await self._settle(False, requeue=True)
            raise
        if not self.auto_acked:
            await self._settle(True)


class AMQPDriver(Driver):
    kind = "amqp"

    def __init__(self, options: PipelineOptions, sink: Sink) -> None:
        super().__init__(options, sink)
        self.cfg = AMQPConfig.from_options(options)
        self.stopped = False
        #: bumped on every (re)connect; deliveries of an older generation are dead
        self.generation = 0
        self._conn: AbstractConnection | None = None
        self._publish_ch: AbstractChannel | None = None
        self._state_ch: AbstractChannel | None = None
        self._consume_ch: AbstractChannel | None = None
        self._ack_window: AckWindow | None = None
        self._exchange: AbstractExchange | None = None
        self._consumer_tag: str | None = None
        self._consume_queue: AbstractQueue | None = None
        self._consuming = False          # the listener should be pulling
        self._connected = asyncio.Event()
        self._open_lock = asyncio.Lock()
        self._redial_task: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._buffer: asyncio.Queue[AMQPDelivery] = asyncio.Queue()
        self._handing: AMQPDelivery | None = None
        #: deliveries put in _buffer and not yet handed over by the listener: while any
        #: exist, new ones queue behind them instead of being offered directly
        self._backlog = 0
        self._delayed = 0
        #: a dead-letter listing's own connection and the messages it holds unacked
        self._dlq_session: tuple[AbstractConnection, list[Any]] | None = None

    # -- connection ------------------------------------------------------------------
    async def _ensure_connected(self, wait: bool = True) -> None:
        if self.stopped:
            raise RRError(STOPPED)
        if self._connected.is_set():
            return
        if self._redial_task is not None and not self._redial_task.done():
            if not wait:
                raise RRError(CLOSED_STATE)
            await self._connected.wait()  # the core bounds this by jobs.timeout
            return
        async with self._open_lock:
            if not self._connected.is_set():
                await self._open()

    async def _open(self) -> None:
        """Dial, declare the topology, open the channels; consume if we should be."""
        kwargs: dict[str, Any] = {"timeout": 10,
                                  "client_properties": {"connection_name": f"rr:{self.pipeline}"}}
        if self.cfg.ssl_context is not None:
            kwargs["ssl_context"] = self.cfg.ssl_context
        conn = await aio_pika.connect(self.cfg.addr, **kwargs)
        generation = self.generation + 1
        try:
            publish_ch = await conn.channel(publisher_confirms=True)
            state_ch = await conn.channel(publisher_confirms=False)
            if self.cfg.exchange_declare:
                exchange = await publish_ch.declare_exchange(
                    self.cfg.exchange, self.cfg.exchange_type, durable=self.cfg.exchange_durable,
                    auto_delete=self.cfg.exchange_auto_delete)
            else:
                exchange = await publish_ch.get_exchange(self.cfg.exchange, ensure=False)
            if self.cfg.queue and self.cfg.queue_declare:
                # RoadRunner declares the queue only when consuming starts, so jobs pushed
                # to a pipeline that was never consumed are unroutable and dropped by the
                # broker. Declaring it up front keeps them, as "push to a paused pipeline"
                # promises.
                await self._declare_queue(publish_ch)
        except BaseException:
            await _close_quietly(conn)
            raise
        self.generation = generation
        self._conn, self._publish_ch, self._state_ch = conn, publish_ch, state_ch
        self._exchange = exchange
        conn.close_callbacks.add(self._on_close(generation, "connection"))
        publish_ch.close_callbacks.add(self._on_close(generation, "publish channel"))
        if self._consuming:
            try:
                await self._start_consumer()
            except BaseException:
                await self._teardown()
                raise
        self._connected.set()

    async def _declare_queue(self, channel: AbstractChannel) -> AbstractQueue:
        queue = await channel.declare_queue(
            self.cfg.queue, durable=self.cfg.durable, exclusive=self.cfg.exclusive,
            auto_delete=self.cfg.queue_auto_delete, arguments=self.cfg.queue_headers or None)
        await queue.bind(self.cfg.exchange, routing_key=self.cfg.routing_key)
        return queue

    def _on_close(self, generation: int, what: str) -> Callable[..., None]:
        def closed(_sender: Any, exc: BaseException | None = None) -> None:
            if generation != self.generation or self.stopped:
                return  # an old connection, or our own shutdown
            if self._redial_task is not None and not self._redial_task.done():
                return
            log.warning("amqp pipeline %s: %s closed (%s); redialing", self.pipeline, what,
                        describe(exc))
            self._schedule_redial()
        return closed

    def _schedule_redial(self) -> None:
        if self.stopped or (self._redial_task is not None and not self._redial_task.done()):
            return
        self._connected.clear()
        self._redial_task = asyncio.get_running_loop().create_task(self._redial())

    async def _teardown(self) -> None:
        """Forget the current connection; its callbacks are ignored from now on."""
        conn = self._conn
        self.generation += 1
        self._conn = self._publish_ch = self._state_ch = self._consume_ch = None
        if self._ack_window is not None:
            self._ack_window.close()
            self._ack_window = None
        self._exchange = None
        self._consumer_tag = None
        self._drop_buffer()
        if conn is not None:
            await _close_quietly(conn)

    def _drop_buffer(self) -> None:
        """Prefetched deliveries of a dead channel: the broker already took them back."""
        while not self._buffer.empty():
            self._buffer.get_nowait()
            self._backlog -= 1

    async def _redial(self) -> None:
        await self._teardown()
        started = time.monotonic()
        interval = REDIAL_FIRST
        attempt = 0
        escalated = False
        while not self.stopped:
            attempt += 1
            try:
                async with self._open_lock:
                    await self._open()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - every failure is logged and retried
                elapsed = time.monotonic() - started
                if elapsed >= self.cfg.redial_timeout and not escalated:
                    escalated = True
                    log.error("amqp pipeline %s: still disconnected after %.0fs "
                              "(redial_timeout %.0fs); retrying until the broker is back",
                              self.pipeline, elapsed, self.cfg.redial_timeout)
                log.warning("amqp pipeline %s: redial attempt %d failed: %s",
                            self.pipeline, attempt, describe(exc))
                await asyncio.sleep(min(REDIAL_CAP, interval * random.uniform(0.5, 1.5)))
                interval = min(REDIAL_CAP, interval * REDIAL_FACTOR)
                continue
            log.info("amqp pipeline %s: reconnected after %d attempt(s)", self.pipeline,
                     attempt)
            return

    # -- consuming -------------------------------------------------------------------
    async def _start_consumer(self) -> None:
        assert self._conn is not None
        channel = self._consume_ch
        if channel is None or channel.is_closed:
            channel = await self._conn.channel(publisher_confirms=False)
            channel.close_callbacks.add(self._on_close(self.generation, "consume channel"))
            await channel.set_qos(prefetch_count=self.cfg.prefetch)
            if self._ack_window is not None:
                self._ack_window.close()
            self._ack_window = None
            self._consume_ch = channel
        if self.cfg.queue_declare:
            queue = await self._declare_queue(channel)
        else:
            queue = await channel.get_queue(self.cfg.queue, ensure=False)
        self._consume_queue = queue
        underlay = await channel.get_underlay_channel()
        if self._ack_window is None and not self.cfg.multiple_ack:
            self._ack_window = AckWindow(underlay, self.cfg.prefetch)
        result = await underlay.basic_consume(
            queue=queue.name, consumer_callback=self._on_message_for(channel, self.generation),
            no_ack=False, consumer_tag=self.cfg.consumer_id or None)
        self._consumer_tag = result.consumer_tag
        if self._listener is None or self._listener.done():
            self._listener = asyncio.get_running_loop().create_task(self._listen())

    def _on_message_for(self, channel: AbstractChannel, generation: int
                        ) -> Callable[[DeliveredMessage], Any]:
        offer = getattr(self.sink, "offer", None)
        window = self._ack_window

        async def on_message(message: DeliveredMessage) -> None:
            tag = message.delivery_tag or 0
            if self.stopped or not self._consuming or channel is not self._consume_ch:
                # arrived after pause/stop raced the cancel: give it straight back
                with contextlib.suppress(Exception):
                    await message.channel.basic_nack(tag, requeue=True)
                    if window is not None:
                        window.settled(tag)
                return
            job = job_from_message(message.header.properties.headers, message.body,
                                   self.pipeline, self.cfg.priority)
            delivery = AMQPDelivery(self, message, job, channel, generation, window)
            if job.auto_ack:
                await message.channel.basic_ack(tag)
                delivery.auto_acked = True
                if window is not None:
                    window.settled(tag)
            # straight into the shared queue while it has room and nothing is waiting
            # ahead of this delivery; otherwise the listener hands it over in order
            if offer is None or self._backlog or not offer(delivery):
                self._backlog += 1
                self._buffer.put_nowait(delivery)
        return on_message

    async def _listen(self) -> None:
        """Hand prefetched deliveries to the core one at a time (its back-pressure)."""
        while True:
            delivery = await self._buffer.get()
            if delivery.generation != self.generation:
                self._backlog -= 1
                continue
            self._handing = delivery
            await self.sink(delivery)  # cancelled: _stop_listening releases _handing
            self._handing = None
            self._backlog -= 1

    async def _stop_listening(self) -> None:
        """Cancel the consumer and give every delivery the core has not taken back."""
        self._consuming = False
        channel, queue, tag = self._consume_ch, self._consume_queue, self._consumer_tag
        self._consumer_tag = None
        if channel is not None and not channel.is_closed and queue is not None and tag:
            try:
                await queue.cancel(tag)
            except Exception as exc:  # noqa: BLE001 - a dead channel cancelled itself
                log.debug("amqp pipeline %s: basic.cancel failed: %s", self.pipeline, exc)
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        pending: list[AMQPDelivery] = []
        if self._handing is not None:
            pending.append(self._handing)
            self._handing = None
        while not self._buffer.empty():
            pending.append(self._buffer.get_nowait())
        self._backlog = 0
        for delivery in pending:
            await delivery.release()

    # -- Driver contract -------------------------------------------------------------
    async def push(self, job: Job) -> None:
        await self.publish(dataclasses.replace(job, headers={k: list(v) for k, v in
                                                             job.headers.items()}))
        if job.delay > 0:
            self._delayed += 1

    async def publish(self, job: Job, wait_for_connection: bool = True) -> None:
        """Publish ``job`` (which it may change: x-routing-key is consumed).

        Returns once the broker confirmed it. Connection trouble is retried after the
        redial (the core bounds the wait by jobs.timeout); broker refusals are raised.
        """
        if self.stopped:
            raise RRError(STOPPED)
        routing_key = routing_key_for(job, self.cfg.routing_key)
        if not routing_key and not self.cfg.routable_without_key:
            raise RRError(EMPTY_ROUTING_KEY)
        while True:
            await self._ensure_connected(wait=wait_for_connection)
            generation = self.generation
            try:
                await self._publish_once(job, routing_key)
                return
            except _PERMANENT as exc:
                raise RRError(f"amqp publish failed: {exc}") from exc
            except aiormq.exceptions.DeliveryError as exc:
                raise RRError("failed to get publisher confirm") from exc
            except _TRANSIENT as exc:
                if self.stopped or not wait_for_connection:
                    raise RRError(f"amqp publish failed: {exc}") from exc
                log.warning("amqp pipeline %s: publish interrupted (%s); retrying after "
                            "reconnect", self.pipeline, describe(exc))
                if generation == self.generation:
                    self._schedule_redial()
                await asyncio.sleep(0.05)

    async def _publish_once(self, job: Job, routing_key: str) -> None:
        assert self._publish_ch is not None and self._exchange is not None
        message = aio_pika.Message(
            job.payload, headers=envelope(job, self.pipeline),
            content_type="application/octet-stream",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            timestamp=dt.datetime.now(dt.UTC))
        if job.delay <= 0:
            await self._exchange.publish(message, routing_key=routing_key)
            return
        delay_ms = job.delay * 1000
        name = self.cfg.delay_queue_name(delay_ms, self.pipeline, routing_key)
        await self._publish_ch.declare_queue(name, durable=True, arguments={
            "x-dead-letter-exchange": self.cfg.exchange,
            "x-dead-letter-routing-key": routing_key,
            "x-message-ttl": Int32(delay_ms),
            "x-expires": Int32(2 * delay_ms),
        })
        # Straight to the delay queue through the default exchange: RoadRunner binds the
        # delay queue to the pipeline's exchange, so on a fanout exchange it also collects
        # copies of all later traffic. We also wait for the confirm (RoadRunner does not),
        # so a delayed push is as durable as any other.
        await self._publish_ch.default_exchange.publish(message, routing_key=name)

    async def run(self) -> None:
        if not self.cfg.queue:
            raise RRError(EMPTY_QUEUE)
        if self._consuming:
            raise RRError("amqp listener is already in the active state")
        await self._ensure_connected()
        self._consuming = True
        try:
            await self._start_consumer()
        except BaseException:
            self._consuming = False
            raise

    async def resume(self) -> None:
        await self.run()

    async def pause(self) -> None:
        if not self.cfg.queue:
            raise RRError(EMPTY_QUEUE)
        if not self._consuming:
            raise RRError("no active listeners, nothing to pause")
        await self._stop_listening()

    async def stop(self) -> None:
        if self.stopped:
            return
        await self._stop_listening()
        if self._ack_window is not None:
            # acks the core gave before the stop go out before the connection closes
            await self._ack_window.flush()
        if self.cfg.delete_queue_on_stop and self.cfg.queue and self._publish_ch is not None:
            try:
                await self._publish_ch.queue_delete(self.cfg.queue)
            except Exception as exc:  # noqa: BLE001 - logged; shutdown goes on
                log.warning("amqp pipeline %s: deleting queue %s failed: %s",
                            self.pipeline, self.cfg.queue, exc)
        self.stopped = True
        redial, self._redial_task = self._redial_task, None
        if redial is not None:
            redial.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await redial
        await self._teardown()
        self._connected.clear()

    # -- dead letters (rr jobs dlq) -------------------------------------------------------
    async def dead_letters(self, limit: int | None, offset: int) -> list[tuple[Job, int]]:
        """The queue's messages in order, taken with ``basic.get`` (unacked) on a
        connection of its own and held until ``dead_letters_done``: closing it puts every
        message not ``forget``-ed back in its place. A dead-letter pipeline is not
        consumed, so all its queue holds are dead letters. Reference = the position."""
        await self.dead_letters_done()
        if not self.cfg.queue:
            raise RRError(f"amqp pipeline {self.pipeline}: no queue to list")
        try:
            conn = await aio_pika.connect(self.cfg.addr, timeout=10)
        except (OSError, aiormq.exceptions.AMQPError) as e:
            raise RRError(f"amqp pipeline {self.pipeline}: {describe(e)}") from e
        held: list[Any] = []
        self._dlq_session = (conn, held)
        try:
            channel = await conn.channel(publisher_confirms=False)
            queue = await channel.get_queue(self.cfg.queue, ensure=False)
            while limit is None or len(held) < offset + limit:
                message = await queue.get(no_ack=False, fail=False)
                if message is None:
                    break
                held.append(message)
        except (OSError, aiormq.exceptions.AMQPError) as e:
            await self.dead_letters_done()
            raise RRError(f"amqp pipeline {self.pipeline}: {describe(e)}") from e
        return [(job_from_message(m.headers, m.body, self.pipeline, self.cfg.priority), i)
                for i, m in enumerate(held) if i >= offset]

    async def forget(self, ref: int) -> None:
        if self._dlq_session is None:
            raise RRError(f"amqp pipeline {self.pipeline}: the dead letters are not held")
        await self._dlq_session[1][ref].ack()

    async def dead_letters_done(self) -> None:
        session, self._dlq_session = self._dlq_session, None
        if session is not None:
            await _close_quietly(session[0])

    async def state(self) -> PipelineState:
        st = PipelineState(pipeline=self.pipeline, driver=self.kind, queue=self.cfg.queue,
                           delayed=self._delayed, ready=self._consuming,
                           priority=self.cfg.priority)
        if self.stopped or not self._connected.is_set():
            st.connected = False
            st.error = CLOSED_STATE
            return st
        if not self.cfg.queue or not self.cfg.queue_declare:
            return st
        try:
            channel = self._state_ch
            if channel is None or channel.is_closed:
                # a passive declare of a missing queue closes the channel; just reopen it
                assert self._conn is not None
                channel = self._state_ch = await self._conn.channel(publisher_confirms=False)
            queue = await channel.declare_queue(self.cfg.queue, passive=True)
        except _PERMANENT as exc:
            st.error = str(exc)
            return st
        except _TRANSIENT as exc:
            st.connected = False
            st.error = f"{CLOSED_STATE}: {exc}"
            return st
        result = queue.declaration_result
        st.queue = result.queue or self.cfg.queue
        st.active = int(result.message_count or 0)
        if self._consume_ch is not None and self._consume_ch.is_closed:
            st.connected = False
        return st

    async def destroy(self) -> None:
        await self.stop()

    def finished(self, delivery: AMQPDelivery) -> None:
        """Bookkeeping when a delivery is settled (the approximate delayed counter)."""
        if delivery.job.delay > 0 and self._delayed > 0:
            self._delayed -= 1


async def _close_quietly(conn: AbstractConnection) -> None:
    try:
        await asyncio.wait_for(conn.close(), 5)
    except Exception as exc:  # noqa: BLE001 - the connection may already be dead
        log.debug("amqp close: %s", exc)
