"""Rates and latency quantiles over the last minutes, from the metrics registry.

The registry holds running totals only; a rate needs two readings of the same total. The
dashboard reads the few series it shows once per interval and keeps those readings for
``dashboard.history`` seconds (a bounded deque): the registry stays the one source of
truth, this is only its recent past. Quantiles are computed from histogram bucket deltas
the way Prometheus' ``histogram_quantile`` does.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry

JOBS_OUTCOMES = "rr_jobs_pipeline_jobs"  # counter family {pipeline, outcome}
HTTP_REQUESTS = "rr_http_request"  # counter family {status}
HTTP_DURATION = "rr_http_request_duration_seconds"  # histogram family {status}
SERIES_STEP = 10.0  # seconds per point of a sparkline
FAILED = ("error", "dead_lettered")


@dataclass
class Reading:
    t: float
    jobs: dict[str, dict[str, float]] = field(default_factory=dict)
    http: dict[str, float] = field(default_factory=dict)  # status -> requests
    buckets: dict[float, float] = field(default_factory=dict)  # le -> cumulative count


def read(registry: CollectorRegistry, now: float | None = None) -> Reading:
    r = Reading(time.monotonic() if now is None else now)
    for family in registry.collect():
        if family.name == JOBS_OUTCOMES:
            for s in family.samples:
                if s.name.endswith("_total"):
                    per = r.jobs.setdefault(s.labels["pipeline"], {})
                    per[s.labels["outcome"]] = s.value
        elif family.name == HTTP_REQUESTS:
            for s in family.samples:
                if s.name.endswith("_total"):
                    r.http[s.labels["status"]] = s.value
        elif family.name == HTTP_DURATION:
            for s in family.samples:
                if s.name.endswith("_bucket"):
                    le = float(s.labels["le"])
                    r.buckets[le] = r.buckets.get(le, 0.0) + s.value
    return r


def quantile(q: float, buckets: dict[float, float]) -> float | None:
    """``histogram_quantile`` over cumulative bucket counts (None without observations)."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    total = buckets[bounds[-1]]
    rank = q * total
    prev_bound, prev_count = 0.0, 0.0
    for b in bounds:
        count = buckets[b]
        if count >= rank:
            if math.isinf(b):  # above the highest finite bound: that bound is the answer
                return prev_bound
            if count == prev_count:
                return b
            return prev_bound + (b - prev_bound) * (rank - prev_count) / (count - prev_count)
        prev_bound, prev_count = b, count
    return prev_bound


def _minus(a: dict[Any, float], b: dict[Any, float]) -> dict[Any, float]:
    return {k: max(0.0, v - b.get(k, 0.0)) for k, v in a.items()}


def status_classes(by_status: dict[str, float]) -> dict[str, float]:
    out = dict.fromkeys(("1xx", "2xx", "3xx", "4xx", "5xx"), 0.0)
    for status, n in by_status.items():
        key = f"{status[:1]}xx"
        if key in out:
            out[key] += n
    return out


class History:
    def __init__(self, seconds: float, interval: float) -> None:
        self.interval = interval
        self.readings: deque[Reading] = deque(maxlen=int(seconds / interval) + 2)

    def add(self, r: Reading) -> None:
        self.readings.append(r)

    def _since(self, seconds: float, now: Reading) -> Reading | None:
        """The oldest kept reading no older than ``seconds`` before ``now``."""
        for r in self.readings:
            if r is not now and now.t - r.t <= seconds + self.interval / 2:
                return r
        return None

    def window(self, now: Reading, seconds: float) -> tuple[Reading, float] | None:
        old = self._since(seconds, now)
        if old is None or now.t <= old.t:
            return None
        return old, now.t - old.t

    def points(self, now: Reading) -> Iterable[tuple[Reading, Reading]]:
        """Consecutive pairs of readings ``SERIES_STEP`` apart, oldest first, ending at now."""
        picked: list[Reading] = [now]
        for r in reversed(self.readings):
            if picked[-1].t - r.t >= SERIES_STEP - self.interval / 2:
                picked.append(r)
        picked.reverse()
        return zip(picked, picked[1:], strict=False)

    # -- views -----------------------------------------------------------------------------
    def pipeline(self, now: Reading, name: str, seconds: float = 60.0) -> dict[str, Any]:
        totals = now.jobs.get(name, {})
        view: dict[str, Any] = {"totals": {k: int(v) for k, v in totals.items()},
                                "throughput": 0.0, "error_rate": 0.0,
                                "series": {"done": [], "failed": []}}
        w = self.window(now, seconds)
        if w is not None:
            old, dt = w
            delta = _minus(totals, old.jobs.get(name, {}))
            done = sum(v for k, v in delta.items() if k != "requeued")
            failed = sum(delta.get(k, 0.0) for k in FAILED)
            view["throughput"] = round(done / dt, 3)
            view["error_rate"] = round(failed / done, 4) if done else 0.0
        for a, b in self.points(now):
            delta = _minus(b.jobs.get(name, {}), a.jobs.get(name, {}))
            dt = b.t - a.t
            view["series"]["done"].append(
                round(sum(v for k, v in delta.items() if k != "requeued") / dt, 3))
            view["series"]["failed"].append(round(sum(delta.get(k, 0.0) for k in FAILED) / dt, 3))
        return view

    def http(self, now: Reading, seconds: float = 60.0, rate_seconds: float = 10.0
             ) -> dict[str, Any]:
        view: dict[str, Any] = {
            "totals": {k: int(v) for k, v in sorted(now.http.items())},
            "classes": {k: int(v) for k, v in status_classes(now.http).items()},
            "rate": 0.0, "class_rates": dict.fromkeys(("1xx", "2xx", "3xx", "4xx", "5xx"), 0.0),
            "p50": quantile(0.5, now.buckets), "p99": quantile(0.99, now.buckets),
            "window_p50": None, "window_p99": None, "series": []}
        w = self.window(now, rate_seconds)
        if w is not None:
            old, dt = w
            view["rate"] = round(sum(_minus(now.http, old.http).values()) / dt, 3)
            view["class_rates"] = {k: round(v / dt, 3) for k, v in
                                   status_classes(_minus(now.http, old.http)).items()}
        w = self.window(now, seconds)
        if w is not None:
            delta = _minus(now.buckets, w[0].buckets)
            view["window_p50"], view["window_p99"] = quantile(0.5, delta), quantile(0.99, delta)
        for a, b in self.points(now):
            view["series"].append(round(sum(_minus(b.http, a.http).values()) / (b.t - a.t), 3))
        return view
