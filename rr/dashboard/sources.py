"""What the dashboard shows, read from where ``rr workers``, ``rr jobs`` and ``/metrics``
read it: the informer for workers, the jobs plugin's states (``informer.Jobs``), the
metrics registry (through History) and the cron plugin's entries. Actions go through the
very RPC handlers the CLI calls, so a pause from the page and ``rr jobs pause`` cannot
behave differently.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from rr.goridge.frame import CODEC_JSON
from rr.pipeline.deadletters import lists_dead_letters
from rr.plugin import JobsInformer
from rr.rpc.informer import Informer
from rr.rpc.registry import RPCError
from rr.rpc.resetter import Resetter

if TYPE_CHECKING:
    from rr.app import App
    from rr.dashboard.history import History, Reading


async def call(app: App, method: str, arg: Any) -> Any:
    """One RPC method of the registry, in process, with the JSON codec."""
    handler = app.rpc.get(method)
    if handler is None:
        raise RPCError(f"{method.split('.')[0]} plugin is not enabled")
    reply = await handler(json.dumps(arg).encode(), CODEC_JSON)
    return json.loads(reply) if reply else None


def _jobs(app: App) -> Any:
    return app.plugins.get("jobs")


def _unknown(name: str, driver: str, error: str) -> dict[str, Any]:
    """A pipeline whose state could not be read (``jobs.Stat`` fails as a whole then)."""
    return {"Pipeline": name, "Driver": driver, "Queue": "", "Active": None, "Delayed": None,
            "Reserved": None, "Ready": False, "Priority": None, "ErrorMessage": error}


async def pipelines(app: App, history: History, now: Reading) -> list[dict[str, Any]]:
    jobs = _jobs(app)
    if not isinstance(jobs, JobsInformer):
        return []
    depths_fn = getattr(jobs, "pipeline_depths", None)
    depths: dict[str, int] = depths_fn() if callable(depths_fn) else {}
    configured = getattr(jobs, "pipelines", {}) or {}
    targets = {getattr(p, "dead_letter", "") for p in configured.values()} - {""}
    try:
        listed = await jobs.jobs_states()
    except Exception as e:  # noqa: BLE001 - e.g. a broker is down: show that, not nothing
        listed = [_unknown(name, getattr(p, "driver_name", ""), str(e) or type(e).__name__)
                  for name, p in configured.items()]
    out = []
    for st in listed:
        name = st["Pipeline"]
        pipe = configured.get(name)
        out.append({
            "pipeline": name, "driver": st["Driver"], "queue": st["Queue"],
            "priority": st["Priority"], "active": st["Active"], "delayed": st["Delayed"],
            "reserved": st["Reserved"], "ready": st["Ready"], "error": st["ErrorMessage"],
            "depth": depths.get(name),
            "dead_letter": getattr(pipe, "dead_letter", "") or "",
            "is_dead_letter": name in targets,
            "browsable": lists_dead_letters(getattr(pipe, "driver", None)),
            **history.pipeline(now, name)})
    out.sort(key=lambda p: p["pipeline"])
    return out


async def workers(app: App) -> dict[str, list[dict[str, Any]]]:
    informer = Informer(app)
    out: dict[str, list[dict[str, Any]]] = {}
    now_ns = time.time_ns()
    for name in informer.names():
        try:
            listed = (await informer.workers(name))["workers"]
        except Exception:  # noqa: BLE001 - a pool being torn down has no workers
            listed = []
        rows = sorted((dict(w) for w in listed), key=lambda w: w["pid"])
        for w in rows:  # supervised processes report no start time (created 0)
            created = int(w.get("created") or 0)
            w["age"] = max(0.0, round((now_ns - created) / 1e9, 1)) if created else None
        out[name] = rows
    return out


def http(app: App, history: History, now: Reading) -> dict[str, Any] | None:
    if app.plugins.get("http") is None:
        return None
    return history.http(now)


def cron(app: App) -> list[dict[str, Any]] | None:
    entries = getattr(app.plugins.get("cron"), "entries_info", None)
    return list(entries()) if callable(entries) else None


async def snapshot(app: App, history: History, now: Reading) -> dict[str, Any]:
    return {"time": time.time(), "version": app.version,
            "pipelines": await pipelines(app, history, now),
            "workers": await workers(app), "resettable": Resetter(app).names(),
            "http": http(app, history, now),
            "cron": cron(app)}


# -- actions ---------------------------------------------------------------------------------
async def pause(app: App, pipeline: str) -> None:
    await call(app, "jobs.Pause", {"pipelines": [pipeline]})


async def resume(app: App, pipeline: str) -> None:
    await call(app, "jobs.Resume", {"pipelines": [pipeline]})


async def dead_letters(app: App, pipeline: str) -> list[dict[str, Any]]:
    return list(await call(app, "jobs.dlq_list", {"pipeline": pipeline}))


async def replay(app: App, pipeline: str, job_id: str = "", to: str = "") -> dict[str, Any]:
    return dict(await call(app, "jobs.dlq_replay", {"pipeline": pipeline, "id": job_id,
                                                    "to": to}))


async def reset(app: App, plugin: str) -> None:
    await Resetter(app).reset(plugin)
