"""Connection and subscription gauges of the built-in endpoint (rr's own; the worker
gauges ``rr_centrifugo_*`` come from the shared pool collector)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Gauge

if TYPE_CHECKING:
    from rr.centrifuge.plugin import CentrifugePlugin


def register_gauges(registry: CollectorRegistry, plugin: CentrifugePlugin) -> None:
    def connections() -> float:
        return len(plugin.hub.clients) if plugin.hub is not None else 0

    def subscriptions() -> float:
        return plugin.hub.subscribers() if plugin.hub is not None else 0

    Gauge("rr_centrifuge_connections", "Open connections of the built-in WebSocket endpoint.",
          registry=registry).set_function(connections)
    Gauge("rr_centrifuge_subscriptions", "Channel subscriptions of the built-in WebSocket "
          "endpoint.", registry=registry).set_function(subscriptions)
