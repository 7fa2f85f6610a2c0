"""The jobs.* RPC service (protobuf codec, spec/jobs.md §6) plus dead-letter tools.

The dead-letter methods are spelled in lower case (``jobs.dlq_list``): Go's net/rpc only
exports capitalised method names, so RoadRunner can never define a method that clashes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

from rr.errors import RRError
from rr.jobs.proto import jobs_pb2
from rr.jobs.retry import ATTEMPT_HEADER, DEAD_LETTER_FROM, DEAD_LETTER_REASON, attempt_of
from rr.pipeline.deadletters import lists_dead_letters
from rr.pipeline.job import Job
from rr.rpc.registry import Registry, RPCError

if TYPE_CHECKING:
    from rr.jobs.plugin import JobsPlugin

T = TypeVar("T")

# generated code has no type stubs in the tree
pb: Any = jobs_pb2


def job_from_proto(m: Any) -> Job:
    o = m.options
    return Job(id=m.id, name=m.job, payload=bytes(m.payload),
               headers={k: list(v.value) for k, v in m.headers.items()},
               pipeline=o.pipeline, priority=o.priority, delay=max(0, o.delay),
               auto_ack=o.auto_ack, topic=o.topic, metadata=o.metadata, offset=o.offset,
               partition=o.partition)


def _err(e: Exception) -> RPCError:
    return e if isinstance(e, RPCError) else RPCError(str(e))


async def _answer(op: Awaitable[T]) -> T:
    """Driver/pipeline failures are answers to the client (an error frame with their
    text), not server faults to log with a traceback."""
    try:
        return await op
    except Exception as e:
        raise _err(e) from None


def register(rpc: Registry, jobs: JobsPlugin) -> None:
    async def push(req: Any) -> Any:
        if not req.HasField("job"):
            raise RPCError("job is required")
        if not req.job.id:
            raise RPCError("empty ID field not allowed")
        await _answer(jobs.push(job_from_proto(req.job), "single"))
        return pb.Empty()

    async def push_batch(req: Any) -> Any:
        # in order, stopping at the first error (IDs are not checked, as RoadRunner)
        for m in req.jobs:
            await _answer(jobs.push(job_from_proto(m), "batch"))
        return pb.Empty()

    async def pause(req: Any) -> Any:
        for name in req.pipelines:
            await _answer(jobs.pause(name))
        return pb.Empty()

    async def resume(req: Any) -> Any:
        for name in req.pipelines:
            await _answer(jobs.resume(name))
        return pb.Empty()

    async def list_(req: Any) -> Any:
        return pb.Pipelines(pipelines=list(jobs.pipelines))

    async def declare(req: Any) -> Any:
        await _answer(jobs.declare(dict(req.pipeline)))
        return pb.Empty()

    async def destroy(req: Any) -> Any:
        sem = asyncio.Semaphore(jobs.cfg.parallelism)
        done: list[str] = []

        async def one(name: str) -> None:
            async with sem:
                await jobs.destroy(name)
                done.append(name)

        results = await asyncio.gather(*(one(n) for n in req.pipelines),
                                       return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise _err(r if isinstance(r, Exception) else RRError(str(r)))
        return pb.Pipelines(pipelines=done)

    async def stat(req: Any) -> Any:
        states = await _answer(jobs.states())
        return pb.Stats(stats=[
            pb.Stat(pipeline=s.pipeline, driver=s.driver, queue=s.queue, active=s.active,
                    delayed=s.delayed, reserved=s.reserved, ready=s.ready,
                    priority=max(0, s.priority)) for s in states])

    rpc.proto("jobs.Push", pb.PushRequest, push)
    rpc.proto("jobs.PushBatch", pb.PushBatchRequest, push_batch)
    rpc.proto("jobs.Pause", pb.Pipelines, pause)
    rpc.proto("jobs.Resume", pb.Pipelines, resume)
    rpc.proto("jobs.List", pb.Empty, list_)
    rpc.proto("jobs.Declare", pb.DeclareRequest, declare)
    rpc.proto("jobs.Destroy", pb.Pipelines, destroy)
    rpc.proto("jobs.Stat", pb.Empty, stat)

    # -- dead letters (JSON codec) ---------------------------------------------------------
    def browsable(arg: Any) -> Any:
        name = arg.get("pipeline") if isinstance(arg, dict) else arg
        if not isinstance(name, str) or not name:
            raise RPCError("pipeline name is required")
        try:
            pipe = jobs.get(name)
        except RRError as e:
            raise RPCError(str(e)) from None
        if not lists_dead_letters(pipe.driver):
            raise RPCError(f"driver {pipe.driver_name} of pipeline {name} does not support "
                           "listing its jobs")
        return pipe

    def window(arg: Any) -> tuple[int | None, int]:
        """``limit`` (None: all) and ``offset`` of a dlq_list request."""
        if not isinstance(arg, dict):
            return None, 0
        try:
            limit = int(arg["limit"]) if arg.get("limit") not in (None, "", 0) else None
            offset = max(0, int(arg.get("offset") or 0))
        except (TypeError, ValueError):
            raise RPCError("limit and offset must be integers") from None
        if limit is not None and limit < 0:
            raise RPCError("limit must not be negative")
        return limit, offset

    async def listed(pipe: Any, limit: int | None, offset: int) -> list[tuple[Job, Any]]:
        """Dead letters as (job, broker reference): brokers list them in place
        (``dead_letters``), the memory driver from its buffer (reference None)."""
        if hasattr(pipe.driver, "dead_letters"):
            try:
                found: list[tuple[Job, Any]] = await pipe.driver.dead_letters(limit, offset)
            except RRError as e:
                raise RPCError(str(e)) from None
            return found
        jobs_ = pipe.driver.browse()[offset:]
        return [(j, None) for j in (jobs_ if limit is None else jobs_[:limit])]

    async def finish(pipe: Any) -> None:
        """Let a driver that holds what it listed (amqp) give it back."""
        done = getattr(pipe.driver, "dead_letters_done", None)
        if done is not None:
            await done()

    async def dlq_list(arg: Any) -> list[dict[str, Any]]:
        pipe = browsable(arg)
        limit, offset = window(arg)
        try:
            found = await listed(pipe, limit, offset)
        finally:
            await finish(pipe)
        out = []
        for j, _ in found:
            out.append({"id": j.id, "job": j.name,
                        "from": (j.headers.get(DEAD_LETTER_FROM) or [""])[0],
                        "reason": (j.headers.get(DEAD_LETTER_REASON) or [""])[0],
                        "attempts": attempt_of(j.headers), "headers": j.headers,
                        "payload": j.payload.decode("utf-8", "replace")})
        return out

    async def dlq_replay(arg: Any) -> dict[str, Any]:
        pipe = browsable(arg)
        target = arg.get("to", "") if isinstance(arg, dict) else ""
        only = arg.get("id", "") if isinstance(arg, dict) else ""
        if hasattr(pipe.driver, "dead_letters"):
            try:
                return await replay_in_place(pipe, target, only)
            finally:
                await finish(pipe)
        replayed = 0
        failed: list[str] = []
        taken = pipe.driver.take_all()
        if only:  # one job: the others go straight back, in their order
            for j in taken:
                if j.id != only:
                    await pipe.driver.push(j)
            taken = [j for j in taken if j.id == only]
            if not taken:
                failed.append(f"{only}: not in the dead-letter queue of {pipe.name}")
        for i, j in enumerate(taken):
            try:
                await jobs.push(replayable(j, target), "single")
                replayed += 1
            except Exception as e:  # noqa: BLE001 - keep the rest in the dead-letter queue
                failed.append(f"{j.id}: {e}")
                for rest in taken[i:]:
                    await pipe.driver.push(rest)
                break
        return {"replayed": replayed, "failed": failed}

    def replayable(j: Job, target: str) -> Job:
        dest = target or (j.headers.get(DEAD_LETTER_FROM) or [""])[0]
        headers = {k: v for k, v in j.headers.items()
                   if k not in (DEAD_LETTER_FROM, DEAD_LETTER_REASON, ATTEMPT_HEADER)}
        return Job(id=j.id, name=j.name, payload=j.payload, headers=headers, pipeline=dest)

    async def replay_in_place(pipe: Any, target: str, only: str) -> dict[str, Any]:
        """A broker's dead letters: push the copy first, then remove the stored message,
        so a failure in between replays a job twice instead of losing it."""
        replayed = 0
        failed: list[str] = []
        found = await listed(pipe, None, 0)
        if only:
            found = [(j, ref) for j, ref in found if j.id == only]
            if not found:
                failed.append(f"{only}: not in the dead-letter queue of {pipe.name}")
        for j, ref in found:
            try:
                await jobs.push(replayable(j, target), "single")
            except Exception as e:  # noqa: BLE001 - the job stays in the dead-letter queue
                failed.append(f"{j.id}: {e}")
                break
            try:
                await pipe.driver.forget(ref)
            except Exception as e:  # noqa: BLE001 - replayed; the stored copy remains
                failed.append(f"{j.id}: replayed, but not removed from {pipe.name}: {e}")
            replayed += 1
        return {"replayed": replayed, "failed": failed}

    rpc.json("jobs.dlq_list", dlq_list)
    rpc.json("jobs.dlq_replay", dlq_replay)
