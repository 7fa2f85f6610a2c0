"""The ``centrifuge`` plugin: its pool (``RR_MODE=centrifuge``), the proxy gRPC server,
the server-API client behind ``centrifuge.*`` RPC, and the optional built-in endpoint."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from rr.app import App

if TYPE_CHECKING:
    import grpc

    from rr.centrifuge.api import ApiClient
    from rr.centrifuge.config import CentrifugeConfig
    from rr.centrifuge.endpoint import Endpoint
    from rr.centrifuge.hub import Hub
    from rr.centrifuge.relay import RedisRelay
    from rr.pool.pool import Pool

LocalMethod = Callable[[bytes], Awaitable[bytes]]


class CentrifugePlugin:
    name = "centrifuge"

    def __init__(self, app: App) -> None:
        from rr.centrifuge.config import CentrifugeConfig
        from rr.centrifuge.rpc import register

        self.app = app
        self.log = app.logger("centrifuge")
        section = app.config.section("centrifuge")
        self.cfg: CentrifugeConfig = CentrifugeConfig.from_section(section)
        self._pool: Pool = app.make_pool("centrifuge", section.section("pool"),
                                         mode="centrifuge")
        self._pool.env["RR_MODE"] = "centrifuge"
        self.started = False
        self.api: ApiClient | None = None
        self.hub: Hub | None = None
        self.endpoint: Endpoint | None = None
        self.relay: RedisRelay | None = None
        self._server: grpc.aio.Server | None = None
        self._local: dict[str, LocalMethod] = {}
        register(app.rpc, self)
        if app.config.has("metrics"):
            from rr.centrifuge.metrics import register_gauges
            register_gauges(app.metrics, self)

    @property
    def pool(self) -> Pool:
        return self._pool

    def local_api(self, method: str) -> LocalMethod | None:
        return self._local.get(method)

    async def start(self) -> None:
        from rr.centrifuge.api import ApiClient

        await self._pool.start()
        try:
            if self.cfg.proxy is not None:
                await self._start_proxy()
            if self.cfg.websocket is not None:
                await self._start_endpoint()
        except BaseException:
            await self._stop_parts()
            await self._pool.destroy()
            raise
        self.api = ApiClient(self.cfg)
        self.started = True

    async def _start_proxy(self) -> None:
        from rr.centrifuge.proxy import ProxyHandler
        from rr.grpc import server as servers
        from rr.grpc.config import ServerOptions

        assert self.cfg.proxy is not None
        opts = ServerOptions(listen=self.cfg.proxy)
        self._server = servers.build(opts, [ProxyHandler(lambda: self._pool)],
                                     name="centrifuge.proxy_address")
        await self._server.start()
        self.log.info("centrifuge proxy server was started",
                      extra={"fields": {"address": self.cfg.proxy.address}})

    async def _start_endpoint(self) -> None:
        from rr.centrifuge.endpoint import Endpoint
        from rr.centrifuge.hub import Hub
        from rr.centrifuge.hubapi import local_methods

        ws = self.cfg.websocket
        assert ws is not None
        self.hub = Hub(ws.history_size, ws.history_ttl)
        if ws.redis:
            from rr.centrifuge.relay import RedisRelay
            self.relay = RedisRelay(ws.redis, self.hub, self.log)
            await self.relay.start()
        self.endpoint = Endpoint(ws, self.hub, self._pool, self.log)
        await self.endpoint.start()
        self._local = local_methods(self.hub)
        self.log.info("centrifuge websocket endpoint was started", extra={"fields": {
            "address": f"{ws.host}:{ws.port}", "path": ws.path}})

    async def _stop_parts(self) -> None:
        grace = self.app.grace_period()
        if self.endpoint is not None:
            await self.endpoint.stop(min(grace, 10.0))
            self.endpoint = None
        if self.relay is not None:
            await self.relay.stop()
            self.relay = None
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None
        if self.api is not None:
            await self.api.close()
            self.api = None

    async def stop(self) -> None:
        self.started = False
        await self._stop_parts()
        await self._pool.destroy()

    async def reset(self) -> None:
        await self._pool.reset()

    def health(self) -> int:
        return 200 if self._pool.alive() else 503

    def ready(self) -> int:
        if self.relay is not None and not self.relay.connected:
            return 503
        if self.endpoint is not None and self.endpoint.closing:
            return 503
        return 200 if self._pool.ready() else 503


def create(app: App) -> CentrifugePlugin | None:
    if not app.config.has("centrifuge"):
        return None
    return CentrifugePlugin(app)
