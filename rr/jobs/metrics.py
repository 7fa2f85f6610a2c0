"""Prometheus metrics of the jobs plugin (spec/jobs.md §10, v6 counter flavour)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


class JobsMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.jobs_ok = Counter("jobs_ok", "Jobs handled successfully", namespace="rr_jobs",
                               registry=registry)
        self.jobs_err = Counter("jobs_err", "Jobs that failed", namespace="rr_jobs",
                                registry=registry)
        self.jobs_requeue = Counter("jobs_requeue", "Jobs requeued", namespace="rr_jobs",
                                    registry=registry)
        self.push_ok = Counter("push_ok", "Successful pushes", namespace="rr_jobs",
                               registry=registry)
        self.push_err = Counter("push_err", "Failed pushes", namespace="rr_jobs",
                                registry=registry)
        self.push_latency = Histogram("push_latency", "Push latency (seconds)",
                                      ["job", "driver", "source"], namespace="rr_jobs",
                                      registry=registry)
        self.requests = Counter("requests_total", "Push requests per pipeline",
                                ["job", "driver", "source"], namespace="rr_jobs",
                                registry=registry)
        self._children: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    def push_series(self, pipeline: str, driver: str, source: str) -> tuple[Any, Any]:
        """(requests counter, latency histogram) children, cached: labels() is slow."""
        key = (pipeline, driver, source)
        pair = self._children.get(key)
        if pair is None:
            pair = (self.requests.labels(pipeline, driver, source),
                    self.push_latency.labels(pipeline, driver, source))
            self._children[key] = pair
        return pair


class WorkersCollector(Collector):
    """rr_jobs_* worker gauges, read from the pool at scrape time."""

    def __init__(self, workers: Callable[[], list[dict[str, Any]]]) -> None:
        self._workers = workers

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            workers = self._workers()
        except Exception:  # noqa: BLE001 - pool not started / stopped
            workers = []
        total = GaugeMetricFamily("rr_jobs_total_workers", "Number of jobs workers")
        total.add_metric([], len(workers))
        mem = GaugeMetricFamily("rr_jobs_workers_memory_bytes", "Memory of all jobs workers")
        mem.add_metric([], sum(int(w.get("memoryUsage", 0)) for w in workers))
        state = GaugeMetricFamily("rr_jobs_worker_state", "Worker state", labels=["state", "pid"])
        wmem = GaugeMetricFamily("rr_jobs_worker_memory_bytes", "Worker memory", labels=["pid"])
        counts = {"ready": 0, "working": 0, "invalid": 0}
        for w in workers:
            st = str(w.get("statusStr", ""))
            state.add_metric([st, str(w.get("pid"))], 0)
            wmem.add_metric([str(w.get("pid"))], int(w.get("memoryUsage", 0)))
            counts[st if st in ("ready", "working") else "invalid"] += 1
        yield total
        yield mem
        yield state
        yield wmem
        for k, v in counts.items():
            g = GaugeMetricFamily(f"rr_jobs_workers_{k}", f"Jobs workers {k}")
            g.add_metric([], v)
            yield g
