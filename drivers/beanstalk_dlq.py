"""Dead letters of a beanstalk pipeline (``rr jobs dlq list|replay``).

Two kinds, listed in this order:

* **buried jobs** of the tube (a Nack without requeue buries): beanstalkd shows only the
  first of them (``peek-buried``), so the listing walks the buried list once round on a
  connection of its own: take the first with ``reserve-job <id>`` (beanstalkd 1.12+),
  read it, ``bury`` it again at once with its priority - it goes to the end of the list -
  and peek the next, as many times as ``stats-tube`` counted buried jobs. After the round
  the list is in its old order, and a consumer never sees these jobs: they are reserved
  by the listing, never ready. If the listing's connection dies while it holds one,
  beanstalkd makes that job *ready* (it then runs again; at-least-once, not lost);
* **ready jobs**, only for a pipeline that has not consumed in this rr (a dead-letter
  pipeline, where every ready job is a dead letter): reserved on the same connection and
  all released again unchanged (same id and priority, so the order stays).

Reference = the beanstalkd job id; replay deletes it (``delete`` takes buried and ready
jobs from any connection). A listed buried job carries ``rr-dead-letter-from`` = the
pipeline and ``rr-dead-letter-reason`` = ``buried``, so replay without ``--to`` puts it
back into its own pipeline.
"""

from __future__ import annotations

from rr.drivers.beanstalk_client import Connection, Reserved, TimedOut
from rr.pipeline.deadletters import DEAD_LETTER_FROM, DEAD_LETTER_REASON
from rr.pipeline.job import Job


async def buried_jobs(conn: Connection, tube: str) -> list[Reserved]:
    """The buried jobs of ``tube`` in beanstalkd's order (``conn`` uses the tube)."""
    count = int((await conn.stats_tube(tube)).get("current-jobs-buried", 0))
    out: list[Reserved] = []
    for _ in range(count):
        first = await conn.peek_buried()
        if first is None or (out and first.id == out[0].id):
            break   # fewer than counted (kicked or deleted meanwhile), or round done
        priority = int((await conn.stats_job(first.id)).get("pri", 0))
        held = await conn.reserve_job(first.id)
        if held is None:
            continue  # deleted between the peek and the reserve
        await conn.bury(held.id, priority)
        out.append(held)
    return out


async def ready_jobs(conn: Connection, want: int | None, priority: int) -> list[Reserved]:
    """Up to ``want`` ready jobs of the watched tube, released again unchanged."""
    held: list[Reserved] = []
    while want is None or len(held) < want:
        try:
            held.append(await conn.reserve(0))
        except TimedOut:
            break
    for r in held:
        await conn.release(r.id, priority, 0)
    return held


def mark_buried(job: Job, pipeline: str) -> Job:
    """A buried job lists as a dead letter of its own pipeline."""
    job.headers.setdefault(DEAD_LETTER_FROM, [pipeline])
    job.headers.setdefault(DEAD_LETTER_REASON, ["buried"])
    return job
