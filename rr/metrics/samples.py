"""Metric families as plain data, and a collector that sums them across processes.

The HTTP front processes (``http.processes`` > 1) each record the http series in their
own registry; rr's one ``/metrics`` asks every front for its families just before it
renders and exposes the sum, so a dashboard sees one server, as with one process.
Counters, histograms (buckets, count, sum) and gauges add up (queued requests of every
front); a gauge that is a point in time shared by all (uptime) takes the largest value.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from rr.plugin import RemoteWorkers

if TYPE_CHECKING:
    from rr.app import App

#: gauges that every process has the same meaning for: the merge keeps the largest
MAX_GAUGES = frozenset({"rr_http_uptime_seconds"})

Family = dict[str, Any]


def families(registry: CollectorRegistry) -> list[Family]:
    """The registry's families as JSON-able dicts (``_created`` samples left out: the
    endpoint drops them anyway)."""
    out: list[Family] = []
    for metric in registry.collect():
        created = metric.name + "_created"
        out.append({"name": metric.name, "type": metric.type, "help": metric.documentation,
                    "samples": [[s.name, s.labels, s.value] for s in metric.samples
                                if s.name != created]})
    return out


def merge(sources: list[list[Family]]) -> list[Metric]:
    """One family per name with the samples of every source added up, in first-seen
    order."""
    merged: dict[str, tuple[Family, dict[tuple[str, tuple[tuple[str, str], ...]], float]]] = {}
    for source in sources:
        for fam in source:
            entry = merged.setdefault(fam["name"], (fam, {}))
            keep_max = fam["name"] in MAX_GAUGES
            values = entry[1]
            for name, labels, value in fam["samples"]:
                key = (name, tuple(sorted(labels.items())))
                old = values.get(key)
                if old is None:
                    values[key] = float(value)
                else:
                    values[key] = max(old, value) if keep_max else old + value
    out: list[Metric] = []
    for fam, values in merged.values():
        metric = Metric(fam["name"], fam["help"], fam["type"])
        for (name, labels), value in values.items():
            metric.add_sample(name, dict(labels), value)
        out.append(metric)
    return out


class MergedCollector(Collector):
    """Yields the sum of the family lists last handed to ``update``."""

    def __init__(self) -> None:
        self._sources: list[list[Family]] = []

    def update(self, sources: list[list[Family]]) -> None:
        self._sources = sources

    def describe(self) -> list[Metric]:
        """Nothing at registration time: the series come from other processes."""
        return []

    def collect(self) -> Iterator[Metric]:
        yield from merge(self._sources)


async def refresh(app: App, log: logging.Logger) -> None:
    """Fetch what other processes hold (plugins with RemoteWorkers) into the registry's
    collectors; called right before a render, since collectors cannot await. A process
    that does not answer is logged and the rest of the render still serves."""
    for plugin in list(app.plugins.values()):
        if isinstance(plugin, RemoteWorkers):
            try:
                await plugin.before_scrape()
            except Exception as e:  # noqa: BLE001 - see above
                log.error("metrics of plugin %s: %s", plugin.name, e)
