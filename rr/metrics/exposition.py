"""Prometheus text exposition with Go client naming.

prometheus-client renames every counter to ``<name>_total`` and adds ``_created``
series; RoadRunner (Go client) exposes a counter under exactly the name it was declared
with and has no ``_created`` series. Dashboards built for RoadRunner query those exact
names, so the endpoint renders the registry itself: a counter whose samples carry the
family name verbatim or that is marked ``verbatim`` (the user collectors of
``rr.metrics.user``, also before their first sample) keeps it, the
prometheus-client ones keep their ``_total`` form, and ``_created`` samples are dropped.
"""

from __future__ import annotations

from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_TYPES = {"unknown": "untyped", "info": "gauge", "stateset": "gauge",
          "gaugehistogram": "histogram"}


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


def _escape_value(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def render(registry: Collector) -> bytes:
    out: list[str] = []
    seen: set[str] = set()
    for metric in registry.collect():
        # a family exported twice (two plugins describing the same pool) would make the
        # whole scrape invalid for Prometheus: the first one registered wins
        if metric.name in seen:
            continue
        seen.add(metric.name)
        name = metric.name
        kind = _TYPES.get(metric.type, metric.type)
        if (metric.type == "counter" and not getattr(metric, "verbatim", False)
                and not any(s.name == name for s in metric.samples)):
            name += "_total"
        elif metric.type == "info":
            name += "_info"
        out.append(f"# HELP {name} {_escape_help(metric.documentation)}\n")
        out.append(f"# TYPE {name} {kind}\n")
        created = metric.name + "_created"
        for sample in metric.samples:
            if sample.name == created:
                continue
            labels = ""
            if sample.labels:
                labels = "{" + ",".join(f'{k}="{_escape_value(str(v))}"'
                                        for k, v in sorted(sample.labels.items())) + "}"
            out.append(f"{sample.name}{labels} {floatToGoString(sample.value)}\n")
    return "".join(out).encode()
