"""``metrics.*`` RPC (JSON codec), as ``Spiral\\RoadRunner\\Metrics\\Metrics`` calls it.

Every successful call answers ``true``: the PHP client fails on an empty reply.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from rr.errors import RRError
from rr.metrics.user import Spec, UserCollectors
from rr.rpc.registry import Registry


def _metric(arg: Any) -> tuple[str, float, list[str]]:
    if not isinstance(arg, Mapping):
        raise RRError("metric: expected an object with name, value and labels")
    d = {str(k).lower(): v for k, v in arg.items()}
    name = d.get("name")
    value = d.get("value", 0)
    labels = d.get("labels") or []
    if not isinstance(name, str) or not name:
        raise RRError("metric: name must be a non-empty string")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RRError(f"metric {name}: value must be a number, got {value!r}")
    if not isinstance(labels, list) or not all(isinstance(x, (str, int, float))
                                               for x in labels):
        raise RRError(f"metric {name}: labels must be a list of strings")
    return name, float(value), [str(x) for x in labels]


class MetricsService:
    def __init__(self, collectors: UserCollectors, log: logging.Logger) -> None:
        self.collectors = collectors
        self.log = log

    def register(self, registry: Registry) -> None:
        for method in ("Add", "Sub", "Set", "Observe"):
            registry.json(f"metrics.{method}", self._updater(method))
        registry.json("metrics.Declare", self.declare)
        registry.json("metrics.Unregister", self.unregister)

    def _updater(self, method: str) -> Any:
        async def update(arg: Any) -> bool:
            name, value, labels = _metric(arg)
            self.collectors.get(name).apply(method, value, labels)
            return True

        return update

    async def declare(self, arg: Any) -> bool:
        if not isinstance(arg, Mapping):
            raise RRError("declare: expected an object with name and collector")
        d = {str(k).lower(): v for k, v in arg.items()}
        name, collector = d.get("name"), d.get("collector")
        if not isinstance(name, str) or not name:
            raise RRError("declare: name must be a non-empty string")
        if not isinstance(collector, Mapping):
            raise RRError(f"declare {name}: collector must be an object")
        if not self.collectors.declare(name, Spec.from_mapping(collector)):
            self.log.warning("tried to register existing collector with the same name: %s",
                             name)
        return True

    async def unregister(self, arg: Any) -> bool:
        if not isinstance(arg, str):
            raise RRError("unregister: expected the collector name as a string")
        self.collectors.unregister(arg)
        return True
