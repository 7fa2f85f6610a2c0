"""The ``metrics`` plugin: the Prometheus endpoint on ``metrics.address`` (any path),
RoadRunner's worker gauges, user collectors from ``metrics.collect`` and ``metrics.*`` RPC.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

from aiohttp import web
from prometheus_client import ProcessCollector

from rr.app import App
from rr.errors import ConfigError, RRError
from rr.metrics.collectors import PipelineDepthCollector, PoolCollector
from rr.metrics.exposition import CONTENT_TYPE, render
from rr.metrics.listen import split_address
from rr.metrics.rpc import MetricsService
from rr.metrics.samples import refresh
from rr.metrics.user import TYPES, Spec, UserCollectors
from rr.webserver import serve

DEFAULT_ADDRESS = "127.0.0.1:2112"


class MetricsPlugin:
    name = "metrics"

    def __init__(self, app: App) -> None:
        self.app = app
        self.log = app.logger("metrics")
        section = app.config.section("metrics")
        self.address = section.string("address", DEFAULT_ADDRESS) or DEFAULT_ADDRESS
        self.host, self.port = split_address(self.address, "metrics.address")
        registry = app.metrics
        with contextlib.suppress(ValueError):  # already there: an earlier instance
            ProcessCollector(registry=registry)
        for pool_plugin in ("http", "jobs", "grpc", "temporal"):
            registry.register(PoolCollector(app, pool_plugin))
        # RoadRunner names the centrifuge plugin's gauges rr_centrifugo_* (spec/centrifuge.md)
        registry.register(PoolCollector(app, "centrifuge", "rr_centrifugo"))
        registry.register(PipelineDepthCollector(app))
        self.collectors = UserCollectors(registry)
        registry.register(self.collectors)
        collect = section.section("collect")
        for name in collect:
            raw = collect.raw(name)
            if not isinstance(raw, Mapping):
                raise ConfigError(f"metrics.collect.{name}: expected a mapping, got {raw!r}")
            kind = str(raw.get("type", ""))
            if kind not in TYPES:
                raise ConfigError(f"metrics.collect.{name}.type: invalid metric type "
                                  f"`{kind}` for `{name}`")
            try:
                self.collectors.declare(name, Spec.from_mapping(raw))
            except RRError as e:
                raise ConfigError(f"metrics.collect.{name}: {e}") from None
        MetricsService(self.collectors, self.log).register(app.rpc)
        self._runner: web.AppRunner | None = None

    async def _scrape(self, request: web.Request) -> web.Response:
        await refresh(self.app, self.log)  # series held by other processes
        body = render(self.app.metrics)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    async def start(self) -> None:
        web_app = web.Application()
        web_app.router.add_route("*", "/{tail:.*}", self._scrape)
        self._runner = await serve(web_app, self.host, self.port, self.address)
        self.log.info("metrics server listening on %s", self.address)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def create(app: App) -> MetricsPlugin | None:
    if not app.config.has("metrics"):
        return None
    return MetricsPlugin(app)
