"""The ``service`` plugin: the table of services, start/stop in order, reset, informer
(spec/service.md §2.4, §2.5). The ``service.*`` RPC is in rr/service/rpc.py."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from rr.app import App
from rr.errors import ConfigError, RRError
from rr.service.config import ServiceConfig
from rr.service.process import ServiceProcess, StartError


class ServicePlugin:
    name = "service"

    def __init__(self, app: App) -> None:
        self.app = app
        self.log = app.logger("service")
        section = app.config.section("service")
        self.configs: dict[str, ServiceConfig] = {}
        for name in section:
            if not isinstance(section.raw(name), Mapping):
                raise ConfigError(f"service.{name}: expected a map of options, got "
                                  f"{section.raw(name)!r}")
            self.configs[name] = ServiceConfig.from_section(name, section.section(name))
        if not self.configs:
            raise ConfigError("service: at least one service must be configured")
        self.services: dict[str, list[ServiceProcess]] = {}
        self.lock = asyncio.Lock()  # Create/Terminate/Restart/reset are exclusive
        from rr.service.rpc import ServiceRPC

        ServiceRPC(self).register(app.rpc)

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Services one by one; the first that cannot start fails the server start."""
        for cfg in self.configs.values():
            try:
                self.services[cfg.name] = await self.launch(cfg)
            except StartError as e:
                await self.stop()
                raise RRError(f"service.{cfg.name}: {e}") from None

    async def launch(self, cfg: ServiceConfig) -> list[ServiceProcess]:
        """process_num processes; if one cannot start, the started ones are stopped."""
        procs: list[ServiceProcess] = []
        try:
            for _ in range(cfg.process_num):
                p = ServiceProcess(cfg, self.log)
                await p.start()
                procs.append(p)
        except BaseException:
            await stop_all(procs)
            raise
        return procs

    async def stop(self) -> None:
        """Every process of every service, one after another (SIGINT, then SIGKILL after
        timeout_stop_sec). If the server's grace deadline cancels us, the rest is killed
        at once: no service outlives rr."""
        names = list(self.services)
        try:
            for name in names:
                await stop_all(self.services.get(name, []))
        finally:
            for procs in self.services.values():
                for p in procs:
                    p.kill_group()
            self.services.clear()

    async def reset(self) -> None:
        """Each process is stopped and a fresh one started with the same settings. A
        service whose restart fails is dropped and reported, the others carry on."""
        self.log.info("reset signal was received")
        async with self.lock:
            for name, procs in list(self.services.items()):
                try:
                    self.services[name] = await self.restart(procs)
                except StartError as e:
                    self.log.error("unable to start the service",
                                   extra={"fields": {"name": name, "error": str(e)}})
                    self.services.pop(name, None)
        self.log.info("plugin was successfully reset")

    async def restart(self, procs: list[ServiceProcess]) -> list[ServiceProcess]:
        fresh: list[ServiceProcess] = []
        try:
            for p in procs:
                await p.stop()
                q = ServiceProcess(p.cfg, self.log)
                await q.start()
                fresh.append(q)
        except StartError:
            # unlike the reference (which leaves them running untracked), rr stops the
            # processes it already restarted: an untracked process is an orphan
            await stop_all(fresh)
            raise
        return fresh

    # -- informer -------------------------------------------------------------------------
    def workers_states(self) -> list[dict[str, Any]]:
        states = []
        for name, procs in self.services.items():
            for p in procs:
                try:
                    states.append(p.info())
                except RRError as e:
                    self.log.error("get process state", extra={"fields": {
                        "name": name, "error": str(e)}})
        return states


async def stop_all(procs: list[ServiceProcess]) -> None:
    for p in procs:
        await p.stop()


def create(app: App) -> ServicePlugin | None:
    if not app.config.has("service"):
        return None
    return ServicePlugin(app)
