"""Recording API for the HTTP plugin: the ``http_metrics`` series of RoadRunner
(spec/http-payload.md §11.4). Worker gauges are not here: they are computed at scrape
time from the pool (``rr.metrics.collectors``).

Any number of ``HttpMetrics(registry)`` objects may be built for one registry: they
share the same series.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from rr.metrics.shared import PerRegistry

DURATION_BUCKETS = (.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20, 30, 60)


@dataclass(frozen=True)
class _Series:
    requests: Counter
    duration: Histogram
    queue: Gauge
    no_free_workers: Counter
    uptime: Gauge


def _make_series(registry: CollectorRegistry) -> _Series:
    started = time.monotonic()
    uptime = Gauge("rr_http_uptime_seconds", "Uptime in seconds", registry=registry)
    uptime.set_function(lambda: time.monotonic() - started)
    return _Series(
        requests=Counter("rr_http_request_total", "Total number of handled http "
                         "requests after server restart.", ["status"],
                         registry=registry),
        duration=Histogram("rr_http_request_duration_seconds", "HTTP request "
                           "duration.", ["status"], buckets=DURATION_BUCKETS,
                           registry=registry),
        queue=Gauge("rr_http_requests_queue", "Total number of queued requests.",
                    registry=registry),
        no_free_workers=Counter("rr_http_no_free_workers_total", "Total number of "
                                "NoFreeWorkers occurrences.", registry=registry),
        uptime=uptime,
    )


_series = PerRegistry(_make_series)


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self._s = _series(registry)
        # labelled children by status: ``labels()`` takes a lock and builds a key tuple on
        # every call, and this runs once per request
        self._by_status: dict[int, tuple[Any, Any]] = {}

    def request(self, status: int, seconds: float) -> None:
        """One response sent (any status, including the server's own 500/503)."""
        children = self._by_status.get(status)
        if children is None:
            label = str(status)
            children = (self._s.requests.labels(label), self._s.duration.labels(label))
            self._by_status[status] = children
        children[0].inc()
        children[1].observe(max(seconds, 0.0))

    @contextmanager
    def queued(self) -> Iterator[None]:
        """Wrap the wait for a free worker: ``rr_http_requests_queue`` counts the waiters."""
        self._s.queue.inc()
        try:
            yield
        finally:
            self._s.queue.dec()

    def no_free_workers(self) -> None:
        """A request failed with NoFreeWorkers (allocate_timeout)."""
        self._s.no_free_workers.inc()
