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

from dataclasses import dataclass
from typing import Any, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from rr.metrics.shared import PerRegistry

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


def _make_series(registry: CollectorRegistry) -> _Series:
    push_labels = ["job", "driver", "source"]
    return _Series(
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


_series = PerRegistry(_make_series)


class JobsMetrics:
    """Child series are cached per label set: ``labels()`` hashes and validates its
    arguments on every call, which is a measurable share of a job's cost in rr."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._s = _series(registry)
        self._push_children: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        self._outcome_children: dict[tuple[str, str], tuple[Gauge, Any]] = {}
        self._processing_children: dict[str, Any] = {}

    def push(self, pipeline: str, driver: str, source: Literal["single", "batch"], ok: bool,
             latency: float) -> None:
        """One job pushed to a driver (``jobs.Push``/``PushBatch``, cron, requeue)."""
        s = self._s
        (s.push_ok if ok else s.push_err).inc()
        key = (pipeline, driver, source)
        children = self._push_children.get(key)
        if children is None:
            children = (s.requests.labels(pipeline, driver, source),
                        s.push_latency.labels(pipeline, driver, source))
            self._push_children[key] = children
        children[0].inc()
        children[1].observe(latency if latency > 0.0 else 0.0)

    def outcome(self, pipeline: str, outcome: Outcome, seconds: float | None = None) -> None:
        """A job left the worker: ``ok`` (ack), ``error`` (failed / nack), ``requeued``,
        ``dead_lettered`` (failed for good; also counts in ``rr_jobs_jobs_err``)."""
        key = (pipeline, outcome)
        children = self._outcome_children.get(key)
        if children is None:
            if outcome not in OUTCOMES:
                raise ValueError(f"unknown job outcome {outcome!r}, expected one of "
                                 f"{OUTCOMES}")
            s = self._s
            total = s.jobs_ok if outcome == "ok" else \
                s.jobs_requeue if outcome == "requeued" else s.jobs_err
            children = (total, s.pipeline_jobs.labels(pipeline, outcome))
            self._outcome_children[key] = children
        children[0].inc()
        children[1].inc()
        if seconds is not None:
            hist = self._processing_children.get(pipeline)
            if hist is None:
                hist = self._s.processing.labels(pipeline)
                self._processing_children[pipeline] = hist
            hist.observe(seconds if seconds > 0.0 else 0.0)

    def forget(self, pipeline: str) -> None:
        """Drop cached children of a destroyed pipeline (the series themselves stay)."""
        for push_key in [k for k in self._push_children if k[0] == pipeline]:
            del self._push_children[push_key]
        for outcome_key in [k for k in self._outcome_children if k[0] == pipeline]:
            del self._outcome_children[outcome_key]
        self._processing_children.pop(pipeline, None)
