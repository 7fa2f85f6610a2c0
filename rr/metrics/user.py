"""User collectors: declared in ``metrics.collect`` or over RPC (``metrics.Declare``).

They are implemented here instead of with prometheus-client's classes so that the
exposition matches the Go client RoadRunner uses (a counter keeps the exact declared
name, summaries honour ``objectives``) and so that misuse (a negative counter increment,
wrong label count) is an error for the caller instead of an exception in the server.
Collectors are addressed by their RoadRunner name (the ``collect`` key / Declare
``name``); the exposed name is ``namespace_subsystem_name``.
"""

from __future__ import annotations

import bisect
import math
import re
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector, CollectorRegistry

from rr.errors import RRError

TYPES = ("counter", "gauge", "histogram", "summary")
DEFAULT_BUCKETS = (.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10)
# Go's client keeps summary observations for 10 minutes (DefMaxAge)
SUMMARY_MAX_AGE = 600.0
SUMMARY_MAX_SAMPLES = 100_000
_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_METHODS = {"counter": {"Add"}, "gauge": {"Add", "Sub", "Set"},
            "histogram": {"Observe"}, "summary": {"Observe"}}


class VerbatimMetric(Metric):
    """A family exposed under exactly its declared name, like the Go client does, also
    while it has no sample yet (a labelled collector before its first update)."""

    verbatim = True


@dataclass
class Spec:
    """A collector declaration (config ``collect.<name>`` or RPC ``collector``)."""

    type: str
    namespace: str = ""
    subsystem: str = ""
    help: str = ""
    labels: list[str] = field(default_factory=list)
    buckets: list[float] = field(default_factory=list)
    objectives: dict[float, float] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Spec:
        """Keys match case-insensitively, as Go's JSON decoding does."""
        d = {str(k).lower(): v for k, v in data.items()}
        labels = d.get("labels") or []
        buckets = d.get("buckets") or []
        objectives = d.get("objectives") or {}
        if isinstance(labels, str):
            labels = [p for p in labels.split(",") if p]
        if not isinstance(labels, list) or not isinstance(buckets, list) \
                or not isinstance(objectives, Mapping):
            raise RRError("labels and buckets must be lists, objectives an object")
        try:
            return cls(type=str(d.get("type") or ""), namespace=str(d.get("namespace") or ""),
                       subsystem=str(d.get("subsystem") or ""), help=str(d.get("help") or ""),
                       labels=[str(x) for x in labels], buckets=[float(b) for b in buckets],
                       objectives={float(q): float(e) for q, e in objectives.items()})
        except (TypeError, ValueError) as e:
            raise RRError(f"invalid collector definition: {e}") from None


def full_name(name: str, spec: Spec) -> str:
    return "_".join(p for p in (spec.namespace, spec.subsystem, name) if p)


class _Series:
    """One label combination's state."""

    __slots__ = ("value", "count", "sum", "buckets", "window")

    def __init__(self, n_buckets: int) -> None:
        self.value = 0.0
        self.count = 0
        self.sum = 0.0
        self.buckets = [0] * n_buckets
        self.window: deque[tuple[float, float]] = deque()


class UserCollector:
    def __init__(self, name: str, spec: Spec) -> None:
        if spec.type not in TYPES:
            raise RRError(f"unknown collector type {spec.type}")
        self.name = name
        self.spec = spec
        self.fq_name = full_name(name, spec)
        if not _NAME.match(self.fq_name):
            raise RRError(f'descriptor Desc{{fqName: "{self.fq_name}"}} is invalid: '
                          f'"{self.fq_name}" is not a valid metric name')
        for label in spec.labels:
            if not _LABEL.match(label) or label.startswith("__"):
                raise RRError(f'descriptor Desc{{fqName: "{self.fq_name}"}} is invalid: '
                              f'"{label}" is not a valid label name')
        if spec.type == "histogram":
            self.bounds = sorted(set(spec.buckets)) or list(DEFAULT_BUCKETS)
            if self.bounds[-1] == math.inf:
                self.bounds.pop()
        else:
            self.bounds = []
        self._series: dict[tuple[str, ...], _Series] = {}
        self._lock = threading.Lock()

    # updates --------------------------------------------------------------------------
    def _get(self, labels: list[str]) -> _Series:
        if self.spec.labels and not labels:
            raise RRError(f"required labels for collector {self.name}")
        if len(labels) != len(self.spec.labels):
            raise RRError(f"inconsistent label cardinality: expected {len(self.spec.labels)} "
                          f"label values but got {len(labels)} in {labels!r}")
        key = tuple(str(v) for v in labels)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _Series(len(self.bounds))
        return series

    def apply(self, method: str, value: float, labels: list[str]) -> None:
        if method not in _METHODS[self.spec.type]:
            shown = "Set" if method == "Set" else f"`{method}`"
            raise RRError(f"collector {self.name} does not support method {shown}")
        with self._lock:
            series = self._get(labels)
            if method == "Add":
                # Go's client panics here (and the RPC connection dies); say why instead
                if self.spec.type == "counter" and value < 0:
                    raise RRError(f"collector {self.name}: counter cannot decrease in value")
                series.value += value
            elif method == "Sub":
                series.value -= value
            elif method == "Set":
                series.value = value
            else:
                series.count += 1
                series.sum += value
                if self.spec.type == "histogram":
                    idx = bisect.bisect_left(self.bounds, value)
                    if idx < len(series.buckets):
                        series.buckets[idx] += 1
                elif self.spec.objectives:
                    series.window.append((time.monotonic(), value))
                    if len(series.window) > SUMMARY_MAX_SAMPLES:
                        series.window.popleft()

    # exposition -----------------------------------------------------------------------
    def metric(self) -> Metric:
        kind = self.spec.type
        metric = VerbatimMetric(self.fq_name, self.spec.help or self.fq_name, kind)
        with self._lock:
            items = list(self._series.items())
            if not self.spec.labels and not items:
                items = [((), _Series(len(self.bounds)))]  # Go exposes unlabelled at 0
            for key, s in items:
                labels = dict(zip(self.spec.labels, key, strict=True))
                if kind in ("counter", "gauge"):
                    metric.add_sample(self.fq_name, labels, s.value)
                    continue
                if kind == "histogram":
                    cumulative = 0
                    for bound, n in zip(self.bounds, s.buckets, strict=True):
                        cumulative += n
                        metric.add_sample(f"{self.fq_name}_bucket",
                                          {**labels, "le": _le(bound)}, cumulative)
                    metric.add_sample(f"{self.fq_name}_bucket", {**labels, "le": "+Inf"},
                                      s.count)
                else:
                    for q, v in self._quantiles(s):
                        metric.add_sample(self.fq_name, {**labels, "quantile": _le(q)}, v)
                metric.add_sample(f"{self.fq_name}_sum", labels, s.sum)
                metric.add_sample(f"{self.fq_name}_count", labels, s.count)
        return metric

    def _quantiles(self, s: _Series) -> list[tuple[float, float]]:
        """Exact quantiles over the observations of the last 10 minutes (the Go client
        approximates within the declared error; exact is within any error)."""
        horizon = time.monotonic() - SUMMARY_MAX_AGE
        while s.window and s.window[0][0] < horizon:
            s.window.popleft()
        values = sorted(v for _, v in s.window)
        out = []
        for q in sorted(self.spec.objectives):
            if not values:
                out.append((q, math.nan))
                continue
            idx = min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))
            out.append((q, values[idx]))
        return out


def _le(bound: float) -> str:
    """Go's shortest float form, as its client writes ``le``/``quantile`` (``1``, ``0.005``)."""
    text = repr(float(bound))
    return text[:-2] if text.endswith(".0") else text


class UserCollectors(Collector):
    """All user collectors, registered in the app registry as one collector."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.collectors: dict[str, UserCollector] = {}
        self._lock = threading.Lock()

    def describe(self) -> list[Metric]:
        """Nothing at registration time: the series depend on live state."""
        return []

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            collectors = list(self.collectors.values())
        for c in collectors:
            yield c.metric()

    def _taken_names(self) -> set[str]:
        names: set[str] = set()
        with self._lock:
            for c in self.collectors.values():
                names.add(c.fq_name)
        # names of prometheus-client collectors (rr_http_*, process_*, ...) already there
        names.update(getattr(self.registry, "_names_to_collectors", {}).keys())
        return names

    def declare(self, name: str, spec: Spec) -> bool:
        """False when a collector of that name already exists (RoadRunner: success)."""
        if name in self.collectors:
            return False
        collector = UserCollector(name, spec)
        if collector.fq_name in self._taken_names():
            raise RRError("duplicate metrics collector registration attempted: "
                          f"{collector.fq_name}")
        with self._lock:
            self.collectors[name] = collector
        return True

    def get(self, name: str) -> UserCollector:
        collector = self.collectors.get(name)
        if collector is None:
            raise RRError(f"undefined collector {name}, try first Declare the desired "
                          "collector")
        return collector

    def unregister(self, name: str) -> None:
        with self._lock:
            if self.collectors.pop(name, None) is None:
                raise RRError(f"undefined collector {name}")
