"""Series computed at scrape time from other plugins' live state.

Worker gauges are read from ``pool.workers()`` on every scrape (the same call that
answers ``informer.Workers``), so ``/metrics`` and ``rr workers`` never disagree.
Plugins are looked up by name at scrape time because they are created independently.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from rr.app import App
from rr.plugin import RemoteWorkers


def worker_dicts(plugin: Any) -> list[dict[str, Any]] | None:
    """The informer view of a plugin's workers, or None when it has no pool."""
    if isinstance(plugin, RemoteWorkers):
        return plugin.scraped_workers()
    pool = getattr(plugin, "pool", None)
    if pool is None:
        return None
    workers = pool.workers()
    return [w.to_dict() if hasattr(w, "to_dict") else dict(w) for w in workers]


class PoolCollector(Collector):
    """``rr_<plugin>_total_workers`` & co (spec/rpc-and-cli.md §5.1, jobs.md §10)."""

    def __init__(self, app: App, plugin: str, prefix: str = "") -> None:
        self.app = app
        self.plugin = plugin
        self.prefix = prefix or f"rr_{plugin}"

    def describe(self) -> list[Metric]:
        """Nothing at registration time: the series depend on live state."""
        return []

    def collect(self) -> Iterator[Metric]:
        plugin = self.app.plugins.get(self.plugin)
        if plugin is None:
            return
        try:
            workers = worker_dicts(plugin)
        except Exception:  # noqa: BLE001 - a pool that is being torn down has no workers
            workers = []
        if workers is None:
            return
        p = self.prefix
        yield GaugeMetricFamily(f"{p}_total_workers", "Total number of workers used by the "
                                f"{self.plugin} plugin", value=len(workers))
        yield GaugeMetricFamily(f"{p}_workers_memory_bytes", "Memory usage by workers",
                                value=sum(int(w.get("memoryUsage") or 0) for w in workers))
        state = GaugeMetricFamily(f"{p}_worker_state", "Worker current state",
                                  labels=["state", "pid"])
        memory = GaugeMetricFamily(f"{p}_worker_memory_bytes", "Worker current memory usage",
                                   labels=["pid"])
        ready = working = 0
        for w in workers:
            status = str(w.get("statusStr", ""))
            pid = str(w.get("pid", ""))
            state.add_metric([status, pid], 0)
            memory.add_metric([pid], int(w.get("memoryUsage") or 0))
            if status == "ready":
                ready += 1
            elif status == "working":
                working += 1
        yield state
        yield memory
        yield GaugeMetricFamily(f"{p}_workers_ready", "Workers currently in ready state",
                                value=ready)
        yield GaugeMetricFamily(f"{p}_workers_working", "Workers currently in working state",
                                value=working)
        yield GaugeMetricFamily(f"{p}_workers_invalid",
                                "Workers currently in invalid, killing, destroyed, errored, "
                                "inactive states", value=len(workers) - ready - working)


class PipelineDepthCollector(Collector):
    """``rr_jobs_pipeline_queue_depth{pipeline}`` from the jobs plugin's
    ``pipeline_depths() -> dict[str, int]`` when it offers one (RoadRunner has no such
    series; the jobs ``Active`` stat is only visible over RPC)."""

    def __init__(self, app: App) -> None:
        self.app = app

    def describe(self) -> list[Metric]:
        """Nothing at registration time: the series depend on live state."""
        return []

    def collect(self) -> Iterator[Metric]:
        jobs = self.app.plugins.get("jobs")
        depths_fn = getattr(jobs, "pipeline_depths", None)
        if depths_fn is None:
            return
        try:
            depths = depths_fn()
        except Exception:  # noqa: BLE001 - a scrape must not fail because of one plugin
            return
        if inspect.isawaitable(depths):
            if inspect.iscoroutine(depths):
                depths.close()
            return
        family = GaugeMetricFamily("rr_jobs_pipeline_queue_depth",
                                   "Jobs waiting in each pipeline (not yet given to a worker)",
                                   labels=["pipeline"])
        for pipeline, depth in sorted(dict(depths).items()):
            family.add_metric([str(pipeline)], float(depth))
        yield family
