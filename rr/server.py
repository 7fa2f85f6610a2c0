"""Builds the plugins from the config and runs them (start in dependency order, stop in
reverse), with RoadRunner's signal handling."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
import sys
from typing import Any

from rr import __version__
from rr.app import App
from rr.config import Config
from rr.plugin import Plugin
from rr.registry import start_order

log = logging.getLogger("rr")


def build(app: App) -> list[Plugin]:
    """Create every enabled plugin (none started yet), in start order; stop runs in
    reverse."""
    plugins: list[Plugin] = []
    for entry in start_order():
        name, module = entry.name, entry.module
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name and module.startswith(e.name):
                if app.config.has(name):
                    log.warning("plugin is not available in this build",
                                extra={"fields": {"plugin": name}})
                continue
            raise
        plugin = mod.create(app)
        if plugin is None:
            continue
        app.plugins[plugin.name] = plugin
        plugins.append(plugin)
    return plugins


class Server:
    def __init__(self, config: Config, silent: bool = False) -> None:
        self.config = config
        self.silent = silent
        self.app = App(config)
        self.started: list[Plugin] = []
        self.grace = self.app.grace_period()
        self.restart = False

    def say(self, text: str) -> None:
        if not self.silent:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()

    async def start(self) -> None:
        plugins = build(self.app)
        if self.config.has("server"):
            from rr import oninit

            await oninit.run(self.config.section("server"))
        for p in plugins:
            try:
                await p.start()
            except BaseException:
                await self.stop()
                raise
            self.started.append(p)

    async def stop(self) -> None:
        self.app.shutting_down = True
        while self.started:
            p = self.started.pop()
            try:
                await p.stop()
            except Exception as e:  # noqa: BLE001 - keep stopping the others
                log.error("plugin stop failed", extra={"fields": {"plugin": p.name,
                                                                  "error": str(e)}})

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        stop_event = asyncio.Event()
        signals_seen = 0

        def on_signal(sig: signal.Signals) -> None:
            nonlocal signals_seen
            signals_seen += 1
            if signals_seen > 1:
                self.say("exit forced")
                import os

                os._exit(1)
            self.say(f"stop signal received, grace timeout is: {int(self.grace)} seconds")
            stop_event.set()

        def on_restart() -> None:
            if stop_event.is_set():
                return
            self.say("restart signal [SIGUSR2] received")
            self.restart = True
            stop_event.set()

        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT):
            loop.add_signal_handler(sig, on_signal, sig)
        loop.add_signal_handler(signal.SIGUSR2, on_restart)
        self.app._on_failure.append(stop_event.set)

        try:
            await self.start()
        except Exception as e:  # noqa: BLE001 - reported to the user
            sys.stderr.write(f"error: {e}\n")
            return 1
        self.say(f"[INFO] RoadRunner server started; version: {__version__}, "
                 f"buildtime: python-{sys.version.split()[0]}")
        await stop_event.wait()
        self.app.stop_deadline = loop.time() + self.grace
        code = 0
        try:
            await asyncio.wait_for(self.stop(), self.grace)
        except TimeoutError:
            sys.stderr.write("error: graceful stop timed out\n")
            code = 1
        if self.app.failure is not None:
            name, exc = self.app.failure
            sys.stderr.write(f"error: {exc}\nplugin: {name}\n")
            code = 1
        return code


def run(config: Config, silent: bool = False) -> int:
    from rr.malloc import pin_mmap_threshold

    pin_mmap_threshold()
    server = Server(config, silent)
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        runner = asyncio.run
    code = 1
    with contextlib.suppress(KeyboardInterrupt):
        code = int(runner(server.run()))
    if server.restart and code == 0:
        reexec()
    return code


def reexec() -> None:
    """SIGUSR2: everything is stopped; start again as the same command, from the same
    directory, with the same environment (a new config or code is picked up)."""
    import os

    from rr.cli import ORIGINAL_CWD

    sys.stdout.flush()
    sys.stderr.flush()
    os.chdir(ORIGINAL_CWD)
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])
