"""Recording API for the jobs core: RoadRunner's ``rr_jobs_*`` series plus per-pipeline ones.

RoadRunner v2025.1 (jobs v5) exports ``rr_jobs_jobs_ok/err`` and ``rr_jobs_push_ok/err``
as gauges holding running totals; they stay gauges here so that existing dashboards
(and the metric TYPE) match. ``rr_jobs_jobs_requeue`` (v6) is kept the same way.
RoadRunner lacks per-pipeline outcome counters, a processing-time histogram and queue
depth: ``rr_jobs_pipeline_jobs_total{pipeline,outcome}`` and
``rr_jobs_pipeline_processing_seconds{pipeline}`` are recorded here, the queue depth is
collected at scrape time (``rr.metrics.collectors.PipelineDepthCollector``).

Any number of ``JobsMetrics(registry)`` objects may be built for one registry: they
share the same series.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

Outcome = Literal["ok", "error", "requeued", "dead_lettered"]
OUTCOMES: tuple[str, ...] = ("ok", "error", "requeued", "dead_lettered")


@dataclass(frozen=True)
class _Series:
    jobs_ok: Gauge
    jobs_err: Gauge
    jobs_requeue: Gauge
    push_ok: Gauge
    push_err: Gauge
    push_latency: Histogram
    requests: Counter
    pipeline_jobs: Counter
    processing: Histogram


_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, _Series] = \
    weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _series(registry: CollectorRegistry) -> _Series:
    with _lock:
        found = _by_registry.get(registry)
        if found is None:
            push_labels = ["job", "driver", "source"]
            found = _Series(
                jobs_ok=Gauge("rr_jobs_jobs_ok", "Number of successfully processed jobs",
                              registry=registry),
                jobs_err=Gauge("rr_jobs_jobs_err", "Number of jobs error while processing "
                               "in the worker", registry=registry),
                jobs_requeue=Gauge("rr_jobs_jobs_requeue", "Number of requeued jobs",
                                   registry=registry),
                push_ok=Gauge("rr_jobs_push_ok", "Number of job push", registry=registry),
                push_err=Gauge("rr_jobs_push_err", "Number of jobs push which was failed",
                               registry=registry),
                push_latency=Histogram("rr_jobs_push_latency", "Histogram represents latency "
                                       "for the push operation", push_labels,
                                       registry=registry),
                requests=Counter("rr_jobs_requests_total", "Total number of push requests",
                                 push_labels, registry=registry),
                pipeline_jobs=Counter("rr_jobs_pipeline_jobs_total",
                                      "Jobs finished per pipeline and outcome",
                                      ["pipeline", "outcome"], registry=registry),
                processing=Histogram("rr_jobs_pipeline_processing_seconds",
                                     "Time a worker spent on a job, per pipeline",
                                     ["pipeline"], registry=registry),
            )
            _by_registry[registry] = found
        return found


class JobsMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self._s = _series(registry)

    def push(self, pipeline: str, driver: str, source: Literal["single", "batch"], ok: bool,
             latency: float) -> None:
        """One job pushed to a driver (``jobs.Push``/``PushBatch``, cron, requeue)."""
        s = self._s
        (s.push_ok if ok else s.push_err).inc()
        s.requests.labels(pipeline, driver, source).inc()
        s.push_latency.labels(pipeline, driver, source).observe(max(latency, 0.0))

    def outcome(self, pipeline: str, outcome: Outcome, seconds: float | None = None) -> None:
        """A job left the worker: ``ok`` (ack), ``error`` (failed / nack), ``requeued``,
        ``dead_lettered`` (failed for good; also counts in ``rr_jobs_jobs_err``)."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown job outcome {outcome!r}, expected one of {OUTCOMES}")
        s = self._s
        if outcome == "ok":
            s.jobs_ok.inc()
        elif outcome == "requeued":
            s.jobs_requeue.inc()
        else:
            s.jobs_err.inc()
        s.pipeline_jobs.labels(pipeline, outcome).inc()
        if seconds is not None:
            s.processing.labels(pipeline).observe(max(seconds, 0.0))
