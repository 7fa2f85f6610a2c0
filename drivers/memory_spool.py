"""The memory driver's opt-in spool file (an rr extension, pipeline option ``spool``).

A memory pipeline keeps its jobs in the process, so a restart loses whatever was not run.
With ``spool: <path>`` the jobs left at stop (buffered, delayed, released from the shared
queue) are written to that file as JSON lines, and the next start loads them back. The
file is replaced atomically (write a sibling, fsync, rename), so a kill -9 during the
write leaves the previous file whole. It is kept after loading, until the next stop
rewrites it: a kill -9 between a start and the next stop replays those jobs once more
(at-least-once, never lost).
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterable
from pathlib import Path

from rr.errors import RRError
from rr.pipeline.job import Job, headers_from_json


def _record(job: Job, delay: int) -> str:
    return json.dumps({"id": job.id, "job": job.name, "headers": job.headers,
                       "payload": base64.b64encode(job.payload).decode("ascii"),
                       "priority": job.priority, "delay": max(0, delay),
                       "auto_ack": job.auto_ack}, separators=(",", ":"))


def save(path: Path, jobs: Iterable[tuple[Job, int]]) -> int:
    """Write ``(job, remaining delay)`` pairs; an empty set removes the file."""
    lines = [_record(job, delay) for job, delay in jobs]
    if not lines:
        path.unlink(missing_ok=True)
        return 0
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return len(lines)


def load(path: Path, pipeline: str) -> list[Job]:
    """The jobs of a previous run; a line that does not parse is a clear error (the file
    is the only copy of those jobs, so it is never skipped or truncated silently)."""
    if not path.exists():
        return []
    jobs: list[Job] = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
                jobs.append(Job(id=str(r["id"]), name=str(r["job"]),
                                payload=base64.b64decode(r["payload"]),
                                headers=headers_from_json(r.get("headers")),
                                pipeline=pipeline, priority=int(r.get("priority", 0)),
                                delay=int(r.get("delay", 0)),
                                auto_ack=bool(r.get("auto_ack", False))))
            except (ValueError, KeyError, TypeError) as e:
                raise RRError(f"jobs.pipelines.{pipeline}.config.spool: {path} line {n} "
                              f"is not a spooled job: {e}") from None
    return jobs
