"""Pollers: take the next job from the shared queue, run it on a worker, settle it.

Settling follows spec/jobs.md §5.2 for replies and §5.3 for failures without a reply,
plus the pipeline's retry policy and dead-letter pipeline when configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Literal

from rr.goridge.frame import CODEC_RAW
from rr.jobs import eager
from rr.jobs.reply import ACK_REPLY, Action, Outcome, Reply, parse_reply
from rr.jobs.retry import (
    ATTEMPT_HEADER,
    DEAD_LETTER_FROM,
    DEAD_LETTER_REASON,
    RetryPolicy,
    attempt_of,
)
from rr.pipeline.driver import Delivery
from rr.pipeline.job import Job
from rr.pipeline.queue import PriorityQueue, QueueClosed
from rr.pool.payload import Payload

#: redelivery of jobs that got no reply when the pipeline has no retry policy
REDELIVERY = RetryPolicy(max_attempts=0, delay=1.0, multiplier=2.0, max_delay=60.0)
#: settlements still waiting on their broker before a poller waits for one of them first
MAX_SETTLING = 1024

if TYPE_CHECKING:
    from rr.jobs.pipelines import Pipeline
    from rr.metrics.jobs import JobsMetrics

log = logging.getLogger("jobs")

MetricOutcome = Literal["ok", "error", "requeued", "dead_lettered"]
_OUTCOMES: dict[Outcome, MetricOutcome] = {Outcome.OK: "ok", Outcome.ERR: "error",
                                           Outcome.REQUEUE: "requeued"}


class Dispatcher:
    def __init__(self, queue: PriorityQueue[Delivery], pool: Any,
                 pipelines: dict[str, Pipeline], metrics: JobsMetrics,
                 on_final: Callable[[str], None]) -> None:
        self.queue = queue
        self.pool = pool
        self.pipelines = pipelines
        self.metrics = metrics
        self.on_final = on_final
        self._tasks: list[asyncio.Task[None]] = []
        self._idle: set[asyncio.Task[None]] = set()
        #: settlements that had to wait for their broker (eager.start fell back to a task)
        self._settling: set[asyncio.Task[None]] = set()
        self.stopping = False

    # -- lifecycle -----------------------------------------------------------------------
    def start(self, pollers: int) -> None:
        """Run ``pollers`` pollers (more than before, if asked again with a higher count).

        One poller per worker: a poller keeps the worker it just used (the pool hands an
        idle worker to the next ``exec`` without a task switch) while a spare poller would
        take it over after every job, at the cost of two task wake-ups per job. The
        settlement never holds a poller up (see ``_after``)."""
        loop = asyncio.get_running_loop()
        for i in range(len(self._tasks), pollers):
            self._tasks.append(loop.create_task(self._poll(), name=f"jobs-poller-{i}"))

    async def stop(self, grace: float) -> None:
        """Stop taking jobs; let running ones finish within ``grace``; release the rest."""
        self.stopping = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        for t in list(self._idle):
            t.cancel()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=grace)
            for t in pending:
                log.warning("jobs: a job did not finish within the %.0fs timeout", grace)
                t.cancel()
            if pending:
                await asyncio.wait(pending)
        self._tasks.clear()
        if self._settling:
            _, late = await asyncio.wait(set(self._settling),
                                         timeout=max(0.5, deadline - loop.time()))
            for t in late:
                log.warning("jobs: a job's settlement did not finish within the %.0fs "
                            "timeout", grace)
                t.cancel()
            if late:
                await asyncio.wait(late)

    # -- one poller ----------------------------------------------------------------------
    async def _poll(self) -> None:
        me = asyncio.current_task()
        assert me is not None
        queue = self.queue
        while not self.stopping:
            d = queue.get_nowait()
            if d is None:
                self._idle.add(me)
                try:
                    d = await queue.get()
                except (asyncio.CancelledError, QueueClosed):
                    return
                finally:
                    self._idle.discard(me)
                if self.stopping:
                    await d.release()
                    return
            try:
                await self.handle(d)
            except asyncio.CancelledError:
                # shutdown deadline: the worker is being torn down, give the job back
                await asyncio.shield(self._release(d))
                raise
            except Exception:  # noqa: BLE001 - a poller must survive anything
                log.exception("jobs: unexpected error while handling job %s", d.job.id)

    async def _release(self, d: Delivery) -> None:
        # never started: hand it back untouched (a plain nack would drop it on drivers
        # whose default failure handling discards, e.g. amqp with requeue_on_fail=false)
        try:
            await d.release()
        except Exception as e:  # noqa: BLE001
            log.error("jobs: could not return job %s: %s", d.job.id, e)

    async def handle(self, d: Delivery) -> None:
        job = d.job
        started = time.perf_counter()
        try:
            ctx = d.context()
            reply = await self.pool.exec(Payload(ctx, job.payload, CODEC_RAW))
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - PoolError family, context errors
            log.error("jobs: job failed without a reply: pipeline=%s id=%s error=%s",
                      job.pipeline, job.id, e)
            self._after(self._settle_failure(d, str(e), started))
        else:
            self._after(self._settle_reply(d, reply.body, started))
        if len(self._settling) >= MAX_SETTLING:
            # the broker settles slower than workers finish jobs: wait for it
            await asyncio.wait(self._settling, return_when=asyncio.FIRST_COMPLETED)

    def _after(self, settlement: Coroutine[Any, Any, None]) -> None:
        """Settle right here when that needs no waiting (the common case); otherwise the
        settlement continues as a task while this poller takes the next job."""
        task = eager.start(settlement)
        if task is not None:
            self._settling.add(task)
            task.add_done_callback(self._settled)

    def _settled(self, task: asyncio.Task[None]) -> None:
        self._settling.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("jobs: unexpected error while settling a job",
                      exc_info=task.exception())

    async def _settle_reply(self, d: Delivery, body: bytes, started: float) -> None:
        r = parse_reply(body)
        if r is ACK_REPLY:  # the common case, without the reply table
            await self._settle(d, d.ack(), final=True)
            outcome: MetricOutcome = "ok"
        else:
            outcome = await self._apply(d, r)
        self.metrics.outcome(d.job.pipeline, outcome, time.perf_counter() - started)

    async def _settle_failure(self, d: Delivery, error: str, started: float) -> None:
        pipeline = d.job.pipeline
        outcome = await self._failed(d, error)
        self.metrics.outcome(pipeline, outcome, time.perf_counter() - started)

    # -- settling ------------------------------------------------------------------------
    def _pipeline(self, d: Delivery) -> Pipeline | None:
        return self.pipelines.get(d.job.pipeline)

    async def _failed(self, d: Delivery, error: str) -> MetricOutcome:
        """No reply (error frame, crash, exec_ttl, no free worker): spec/jobs.md §5.3."""
        pipe = self._pipeline(d)
        if pipe is not None and pipe.retry.enabled:
            return await self._retry(d, pipe, None, None, error)
        # RoadRunner nacks here with the driver's default, which drops memory jobs and
        # amqp jobs without requeue_on_fail. rr never loses a job a worker failed to
        # answer: it is redelivered with the attempt counted and a growing delay (1s,
        # 2s, 4s ... 60s), so a poison job cannot spin; configure retry/dead_letter to
        # bound it.
        attempt = attempt_of(d.job.headers)
        changes = {ATTEMPT_HEADER: [str(attempt + 1)]}
        await self._settle(d, d.requeue(changes, REDELIVERY.backoff(attempt)), final=False)
        return "requeued"

    async def _retry(self, d: Delivery, pipe: Pipeline, headers: dict[str, list[str]] | None,
                     delay: int | None, reason: str) -> MetricOutcome:
        """Count the attempt; redeliver with backoff or give the job up."""
        attempt = attempt_of(d.job.headers)
        if pipe.retry.exhausted(attempt):
            return await self._give_up(d, pipe, f"attempts exhausted ({attempt}): {reason}")
        changes = dict(headers or {})
        changes[ATTEMPT_HEADER] = [str(attempt + 1)]
        wait = pipe.retry.backoff(attempt) if delay is None else delay
        await self._settle(d, d.requeue(changes, wait), final=False)
        return "requeued"

    async def _give_up(self, d: Delivery, pipe: Pipeline | None,
                       reason: str) -> MetricOutcome:
        """Dead-letter when the pipeline has one, otherwise discard (NackWithOptions false)."""
        target = self.pipelines.get(pipe.dead_letter) if pipe and pipe.dead_letter else None
        if pipe is not None and pipe.dead_letter and target is None:
            log.error("jobs: dead-letter pipeline %s of %s does not exist; job %s discarded",
                      pipe.dead_letter, pipe.name, d.job.id)
        if target is not None and target.driver is not None:
            src = d.job
            copy = Job(id=src.id, name=src.name, payload=src.payload,
                       headers=src.merged_headers({DEAD_LETTER_FROM: [src.pipeline],
                                                   DEAD_LETTER_REASON: [reason[:1000]]}),
                       pipeline=target.name, priority=target.priority)
            try:
                await target.driver.push(copy)
            except Exception as e:  # noqa: BLE001
                log.error("jobs: dead-letter push to %s failed: id=%s error=%s", target.name,
                          src.id, e)
                await self._settle(d, d.nack(), final=True)
                return "error"
            log.warning("jobs: job dead-lettered: pipeline=%s id=%s to=%s reason=%s",
                        src.pipeline, src.id, target.name, reason)
            await self._settle(d, d.ack(), final=True)
            return "dead_lettered"
        log.warning("jobs: job discarded: pipeline=%s id=%s reason=%s", d.job.pipeline,
                    d.job.id, reason)
        await self._settle(d, d.nack(False, 0), final=True)
        return "error"

    async def _settle(self, d: Delivery, op: Any, final: bool) -> None:
        try:
            await op
        except Exception as e:  # noqa: BLE001
            # RoadRunner: a failing driver operation is logged, then the job is acked
            log.error("jobs: driver operation failed: pipeline=%s id=%s error=%s",
                      d.job.pipeline, d.job.id, e)
            with contextlib.suppress(Exception):  # already stopped
                await d.ack()
            final = True
        if final:
            self.on_final(d.job.id)

    async def _apply(self, d: Delivery, r: Reply) -> MetricOutcome:
        job = d.job
        outcome: MetricOutcome = _OUTCOMES[r.outcome]
        if r.invalid:
            log.error("jobs: response handler error: pipeline=%s id=%s error=%s",
                      job.pipeline, job.id, r.invalid)
        elif r.unknown_type is not None:
            log.warning("jobs: unknown response type %s: pipeline=%s id=%s", r.unknown_type,
                        job.pipeline, job.id)
        elif r.explicit_failure and r.message:
            log.error("jobs: job failed: pipeline=%s id=%s message=%s", job.pipeline, job.id,
                      r.message)
        if r.action is Action.ACK:
            await self._settle(d, d.ack(), final=True)
            return outcome
        pipe = self._pipeline(d)
        if r.action is Action.NACK and not r.requeue:
            if pipe is not None and pipe.dead_letter:
                return await self._give_up(d, pipe, r.message or "nack")
            await self._settle(d, d.nack(False, r.delay), final=True)
            return outcome
        if pipe is not None and pipe.retry.enabled:
            return await self._retry(d, pipe, r.headers, r.delay or None,
                                     r.message or r.action.value)
        if r.action is Action.NACK:
            await self._settle(d, d.nack(True, r.delay), final=False)
        else:
            await self._settle(d, d.requeue(r.headers, r.delay), final=False)
        return outcome
