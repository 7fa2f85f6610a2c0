"""The application context handed to every plugin factory.

Plugins find shared services here (config, RPC registry, metrics registry, other plugins,
loggers) and build worker pools through ``make_pool`` so that every pool gets the same
command/environment rules (spec/worker-protocol.md §1).
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry

from rr import __version__
from rr.config import Config, Section, command_list
from rr.errors import ConfigError
from rr.rpc.registry import Registry

if TYPE_CHECKING:
    from rr.plugin import Plugin
    from rr.pool.pool import Pool


class App:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.rpc = Registry()
        self.metrics = CollectorRegistry(auto_describe=True)
        self.plugins: dict[str, Plugin] = {}
        self.shutting_down = False
        self.version = __version__
        self.failure: tuple[str, BaseException] | None = None
        self._on_failure: list[Any] = []
        #: loop time by which a graceful stop must be done (set when the stop begins), so
        #: every plugin drains against one deadline instead of re-reading the grace period
        self.stop_deadline: float | None = None

    def fail(self, plugin: str, exc: BaseException) -> None:
        """A plugin failed while serving: `rr serve` stops everything and exits 1."""
        if self.failure is None:
            self.failure = (plugin, exc)
            for cb in self._on_failure:
                cb()

    def grace_period(self) -> float:
        """``endure.grace_period`` in seconds (30 when unset)."""
        return self.config.section("endure").duration("grace_period", 30.0) or 30.0

    def logger(self, name: str) -> logging.Logger:
        return logging.getLogger(name)

    def plugin(self, name: str) -> Any:
        return self.plugins.get(name)

    # -- worker pools -------------------------------------------------------------
    def server_enabled(self) -> bool:
        return self.config.has("server")

    def worker_command(self, pool_section: Section) -> list[str]:
        """``<plugin>.pool.command`` or ``server.command``; a string splits on single spaces."""
        src = pool_section if pool_section.has("command") else self.config.section("server")
        cmd = command_list(src.raw("command"))
        if not cmd or not cmd[0]:
            raise ConfigError("server.command: command should not be empty")
        return cmd

    def worker_env(self, mode: str) -> dict[str, str]:
        server = self.config.section("server")
        env = dict(os.environ)
        env["RR_RELAY"] = server.string("relay", "pipes") or "pipes"
        if self.config.has("rpc.listen"):
            env["RR_RPC"] = self.config.string("rpc.listen")
        for k, v in server.env_map("env").items():
            env[k] = os.path.expandvars(v)
        env["RR_VERSION"] = self.version
        if mode:
            env["RR_MODE"] = mode
        return env

    def make_pool(self, plugin: str, section: Section, mode: str) -> Pool:
        from rr.pool.config import PoolConfig
        from rr.pool.pool import Pool

        cfg = PoolConfig.from_section(section)
        server = self.config.section("server")
        return Pool(
            name=plugin,
            config=cfg,
            command=self.worker_command(section),
            env=self.worker_env(mode),
            relay=server.string("relay", "pipes") or "pipes",
            user=server.string("user"),
            logger=self.logger("server"),
        )
