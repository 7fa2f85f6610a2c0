"""The ``grpc`` plugin: proto discovery, its own worker pool (``RR_MODE=grpc``) and the
listener with the proxy, health and reflection: rr's native HTTP/2 front by default,
grpcio's server with ``grpc.server: grpcio`` (spec/grpc.md §7.3)."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from rr.app import App

if TYPE_CHECKING:
    import grpc

    from rr.fronts.plugin import FrontsPlugin
    from rr.grpc.metrics import GrpcMetrics
    from rr.grpc.native import NativeServer
    from rr.pool.pool import Pool


class GrpcPlugin:
    name = "grpc"

    def __init__(self, app: App) -> None:
        # grpcio, protoc and the descriptor machinery load only when the section exists:
        # every rr start imports every plugin module
        from rr.grpc import protos
        from rr.grpc.config import GrpcConfig
        from rr.grpc.health import HealthState
        from rr.grpc.metrics import grpc_metrics

        self.app = app
        self.log = app.logger("grpc")
        section = app.config.section("grpc")
        self.cfg = GrpcConfig.from_section(section)
        self.protos = protos.load(self.cfg.proto, app.config.workdir)
        self._pool: Pool = app.make_pool("grpc", section.section("pool"), mode="grpc")
        self._pool.env.update(self.cfg.env)
        self._pool.env["RR_MODE"] = "grpc"
        # with exec_ttl the execution is bound to the call: a client that gives up
        # takes the worker with it (spec §5.5); without it the late reply is dropped
        self._pool.kill_abandoned = self._pool.cfg.exec_ttl > 0
        self.metrics: GrpcMetrics | None = (
            grpc_metrics(app.metrics) if app.config.has("metrics") else None)
        self.health_state = HealthState(self._pool.alive)
        self._server: grpc.aio.Server | NativeServer | None = None
        #: listening sockets opened by rr for a front process (``grpc.processes`` > 1)
        self.inherited: dict[str, list[socket.socket]] = {}

    @property
    def pool(self) -> Pool:
        return self._pool

    def _observe(self, method: str, status: str, seconds: float) -> None:
        if self.metrics is not None:
            self.metrics.observe(method, status, seconds)

    async def start(self) -> None:
        await self._pool.start()
        o = self.cfg.server
        try:
            server = await (self._start_native() if self.cfg.front == "native"
                            else self._start_grpcio())
        except BaseException:
            # the server stops only plugins that started: the workers are ours to end
            await self._pool.destroy()
            raise
        self._server = server
        self.health_state.set_serving(True)
        self.log.info("grpc server was started", extra={"fields": {
            "address": o.listen.address, "services": sorted(self.protos.services)}})

    async def _start_native(self) -> NativeServer:
        from rr.grpc.native import NativeServer
        from rr.grpc.routes import Routes

        routes = Routes(self.protos, self.health_state, self.log)
        server = NativeServer(self.cfg.server, routes, lambda: self._pool, self.log,
                              self.metrics, sockets=self.inherited.get("grpc"))
        await server.start()
        return server

    async def _start_grpcio(self) -> grpc.aio.Server:
        from rr.grpc import reflection
        from rr.grpc import server as servers
        from rr.grpc.health import HealthHandler
        from rr.grpc.limiter import StreamLimiter
        from rr.grpc.proxy import Proxy

        o = self.cfg.server
        proxy = Proxy(lambda: self._pool, self.protos, StreamLimiter(o.max_concurrent_streams),
                      o.tls is not None, self.log, self.metrics)
        server = servers.build(o, [HealthHandler(self.health_state, self._observe), proxy])
        reflection.enable(server, self.protos, self.log)
        await server.start()
        return server

    async def stop(self) -> None:
        """Health NOT_SERVING, stop accepting, let in-flight calls finish within the
        grace period (then GOAWAY and cancel), then the pool."""
        self.health_state.close()
        grace = self.app.config.duration("endure.grace_period", 30.0) or 30.0
        await self.health_state.watchers_done(min(grace, 2.0))
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None
        await self._pool.destroy()

    async def reset(self) -> None:
        """Health NOT_SERVING while the workers are replaced; calls wait for new ones."""
        self.health_state.set_serving(False)
        try:
            await self._pool.reset()
        finally:
            self.health_state.set_serving(not self.health_state.closed)

    def health(self) -> int:
        return 200 if self._pool.alive() else 503

    def ready(self) -> int:
        return 200 if self._pool.ready() else 503


def create(app: App) -> GrpcPlugin | FrontsPlugin | None:
    if not app.config.has("grpc"):
        return None
    from rr.fronts.config import processes

    if processes(app.config.section("grpc")) > 1:
        from rr.fronts.plugin import FrontsPlugin

        return FrontsPlugin(app, "grpc")
    return GrpcPlugin(app)
