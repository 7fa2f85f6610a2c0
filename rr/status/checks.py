"""Asking plugins for their health/readiness and turning the answers into a report.

A plugin takes part by offering ``health() -> int`` / ``ready() -> int`` (rr.plugin's
HealthChecker / ReadinessChecker; an awaitable result is awaited). The codes follow
spec/rpc-and-cli.md §6.2.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["health", "ready"]
SHUTTING_DOWN = "service is shutting down"


@dataclass(slots=True)
class Result:
    plugin: str
    code: int | None = None
    error: str | None = None


async def check(plugin: Any, kind: Kind) -> Result:
    name = str(getattr(plugin, "name", "?"))
    fn = getattr(plugin, kind, None)
    if fn is None:
        return Result(name, error=f"plugin {name} does not support the {kind} check")
    try:
        code = fn()
        if inspect.isawaitable(code):
            code = await code
    except Exception as e:  # noqa: BLE001 - a failing check is a not-ready plugin
        return Result(name, error=str(e) or type(e).__name__)
    if code is None:
        return Result(name, error=f"plugin {name} returned no status")
    return Result(name, code=int(code))


def supports(plugin: Any, kind: Kind) -> bool:
    return callable(getattr(plugin, kind, None))


def report(results: list[Result], unavailable: int) -> tuple[int, bytes]:
    """(HTTP status, JSON body) for /health and /ready.

    RoadRunner switches the HTTP status for a check that *errored* only on some
    endpoint/query combinations (``/health`` without ``plugin=``, ``/ready`` with it) and
    reports 200 otherwise; a plugin that cannot say it is fine is treated as unavailable
    here on every combination, so a probe never passes on a broken check.
    """
    status = 200
    entries: list[dict[str, Any]] = []
    for r in results:
        if r.code is None:
            status = unavailable
            entries.append({"plugin_name": r.plugin, "error_message": r.error or "",
                            "status_code": unavailable})
        elif r.code >= 500:
            status = unavailable
            entries.append({"plugin_name": r.plugin,
                            "error_message": "internal server error, see logs",
                            "status_code": unavailable})
        elif 100 <= r.code <= 400:
            entries.append({"plugin_name": r.plugin, "error_message": "",
                            "status_code": r.code})
        else:
            entries.append({"plugin_name": r.plugin, "error_message": "unexpected status code",
                            "status_code": r.code})
    return status, json.dumps(entries, separators=(",", ":")).encode()


JOBS_KEYS = (("pipeline", "Pipeline", ""), ("priority", "Priority", 0),
             ("ready", "Ready", False), ("queue", "Queue", ""), ("active", "Active", 0),
             ("delayed", "Delayed", 0), ("reserved", "Reserved", 0),
             ("driver", "Driver", ""), ("error_message", "ErrorMessage", ""))


def jobs_report(states: list[dict[str, Any]]) -> bytes:
    """informer.Jobs states (Go field names) -> the snake_case objects of ``/jobs``."""
    out = [{key: state.get(go_key, default) for key, go_key, default in JOBS_KEYS}
           for state in states]
    return json.dumps(out, separators=(",", ":")).encode()
