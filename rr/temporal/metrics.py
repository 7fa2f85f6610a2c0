"""The two plugin gauges of spec/temporal.md §11.2, on rr's main metrics registry.

(The ``rr_temporal_*`` worker gauges of §11.1 come from the shared PoolCollector; the
Temporal SDK's own ``temporal_*`` series come from sdk-core's Prometheus listener when
``temporal.metrics`` is set.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


class QueueSizeCollector(Collector):
    def __init__(self, activities: Callable[[], int], workflows: Callable[[], int]) -> None:
        self.activities = activities
        self.workflows = workflows

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("rr_activities_pool_queue_size",
                                "Activity exchanges waiting for a PHP worker",
                                value=self.activities())
        yield GaugeMetricFamily("rr_workflows_pool_queue_size",
                                "Workflow exchanges waiting for the PHP workflow worker",
                                value=self.workflows())
