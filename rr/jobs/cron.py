"""The cron plugin: pushes jobs into pipelines on a schedule (APScheduler 3.x).

A fired job takes the normal push path of the jobs plugin, so it is prioritised, retried
and dead-lettered like any pushed job. With ``overlap: skip`` an entry does not fire again
while the job it fired last is still queued or running.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from rr.config import Section
from rr.durations import parse_duration
from rr.errors import ConfigError
from rr.pipeline.job import Headers, Job

if TYPE_CHECKING:
    from rr.app import App

CRON_HEADER = "rr-cron"
_MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
           "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
           "@hourly": "0 * * * *"}
_DOW = ["sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _dow(field_value: str) -> str:
    """Crontab day-of-week numbers (0 and 7 = Sunday) to APScheduler's names: APScheduler
    numbers Monday as 0, so passing digits through would shift every day by one."""
    parts = []
    for part in field_value.split(","):
        rng, sep, step = part.partition("/")
        if rng != "*":
            rng = re.sub(r"\d+", lambda m: _DOW[int(m.group()) % 8], rng)
        parts.append(rng + sep + step)
    return ",".join(parts)


def parse_schedule(schedule: str, timezone: str, where: str) -> BaseTrigger:
    """6 fields = with seconds first; 5 fields = classic crontab; @every <duration>."""
    s = schedule.strip()
    try:
        if s.startswith("@every"):
            seconds = parse_duration(s[len("@every"):].strip(), where)
            if seconds <= 0:
                raise ValueError("the interval must be positive")
            return IntervalTrigger(seconds=seconds, timezone=timezone)
        s = _MACROS.get(s, s)
        fields = s.split()
        if len(fields) == 5:
            fields = ["0", *fields]
        if len(fields) != 6:
            raise ValueError("expected 5 fields (minute hour day month weekday) or 6 "
                             "(second first)")
        second, minute, hour, day, month, dow = fields
        return CronTrigger(second=second, minute=minute, hour=hour, day=day, month=month,
                           day_of_week=_dow(dow), timezone=timezone)
    except (ValueError, LookupError, ConfigError) as e:
        raise ConfigError(f"{where}: invalid schedule {schedule!r}: {e}") from None


def _headers(raw: Any, where: str) -> Headers:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping of header -> list of strings")
    out: Headers = {}
    for k, v in raw.items():
        out[str(k)] = [str(x) for x in v] if isinstance(v, list) else [str(v)]
    return out


@dataclass
class Entry:
    name: str
    schedule: str
    trigger: BaseTrigger
    pipeline: str
    job: str
    payload: bytes
    headers: Headers
    priority: int
    delay: int
    overlap: str
    fired: int = 0
    skipped: int = 0
    pending: asyncio.Future[None] | None = field(default=None, repr=False)

    @classmethod
    def from_section(cls, name: str, s: Section, timezone: str) -> Entry:
        where = s.path
        schedule = s.string("schedule")
        if not schedule:
            raise ConfigError(f"{where}.schedule: required")
        pipeline = s.string("pipeline")
        if not pipeline:
            raise ConfigError(f"{where}.pipeline: required")
        overlap = s.string("overlap", "skip").lower()
        if overlap not in ("skip", "allow"):
            raise ConfigError(f"{where}.overlap: expected skip or allow, got {overlap!r}")
        raw_payload = s.raw("payload")
        if isinstance(raw_payload, (dict, list)):
            payload = json.dumps(raw_payload, separators=(",", ":")).encode()
        else:
            payload = s.string("payload").encode()
        tz = s.string("timezone", timezone) or timezone
        return cls(name=name, schedule=schedule,
                   trigger=parse_schedule(schedule, tz, f"{where}.schedule"),
                   pipeline=pipeline, job=s.string("job", name) or name, payload=payload,
                   headers=_headers(s.raw("headers"), f"{where}.headers"),
                   priority=s.integer("priority", 0), delay=s.integer("delay", 0),
                   overlap=overlap)


def create(app: App) -> CronPlugin | None:
    if not app.config.has("cron"):
        return None
    return CronPlugin(app)


class CronPlugin:
    name = "cron"

    def __init__(self, app: App) -> None:
        self.app = app
        self.log = app.logger("cron")
        section = app.config.section("cron")
        self.timezone = section.string("timezone", "UTC") or "UTC"
        entries = section.section("jobs")
        self.entries = {n: Entry.from_section(n, entries.section(n), self.timezone)
                        for n in entries}
        if self.entries and not app.config.has("jobs"):
            raise ConfigError("cron: the jobs section is required to push cron jobs")
        self.scheduler: AsyncIOScheduler | None = None
        app.rpc.json("cron.List", self._rpc_list)

    async def start(self) -> None:
        self.scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop(),
                                          timezone=self.timezone)
        for entry in self.entries.values():
            # one run at a time per entry, late runs collapse into one
            self.scheduler.add_job(self.fire, entry.trigger, args=[entry.name], id=entry.name,
                                   name=entry.name, max_instances=1, coalesce=True,
                                   misfire_grace_time=30)
        self.scheduler.start()

    async def stop(self) -> None:
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    async def fire(self, name: str) -> None:
        entry = self.entries[name]
        if entry.overlap == "skip" and entry.pending is not None and not entry.pending.done():
            entry.skipped += 1
            self.log.info("cron: %s skipped, the job it fired last is still pending", name)
            return
        jobs: Any = self.app.plugins.get("jobs")
        if jobs is None:
            self.log.error("cron: jobs plugin is not running, %s not fired", name)
            return
        job_id = str(uuid.uuid4())
        headers = {k: list(v) for k, v in entry.headers.items()}
        headers[CRON_HEADER] = [name]
        job = Job(id=job_id, name=entry.job, payload=entry.payload, headers=headers,
                  pipeline=entry.pipeline, priority=entry.priority, delay=entry.delay)
        watch = getattr(jobs, "watch", None)
        pending = watch(job_id) if watch is not None and entry.overlap == "skip" else None
        try:
            await jobs.push(job, "single")
        except Exception as e:  # noqa: BLE001
            if pending is not None:
                pending.cancel()
            self.log.error("cron: %s: push to %s failed: %s", name, entry.pipeline, e)
            return
        entry.pending = pending
        entry.fired += 1
        self.log.debug("cron: %s fired job %s into %s", name, job_id, entry.pipeline)

    def entries_info(self) -> list[dict[str, Any]]:
        out = []
        for e in self.entries.values():
            next_run = None
            if self.scheduler is not None:
                sj = self.scheduler.get_job(e.name)
                if sj is not None and sj.next_run_time is not None:
                    next_run = sj.next_run_time.isoformat()
            out.append({"name": e.name, "schedule": e.schedule, "pipeline": e.pipeline,
                        "job": e.job, "overlap": e.overlap, "next_run": next_run,
                        "fired": e.fired, "skipped": e.skipped,
                        "pending": e.pending is not None and not e.pending.done()})
        return out

    async def _rpc_list(self, _: Any) -> list[dict[str, Any]]:
        return self.entries_info()
