"""The http (or grpc) plugin with ``<plugin>.processes`` > 1: rr keeps the listening
sockets and every other plugin, and serves HTTP (gRPC) from P front processes that share
those sockets.

rr stays the one place of truth: ``rr workers``/informer list the workers of every
front, ``rr reset`` resets them all, ``/health`` and ``/ready`` ask them all, and
``/metrics`` shows the sum of their series next to rr's own. Each call goes to the
fronts at the moment it is made (no cached state that could disagree with them).
Jobs, cron, KV, RPC, metrics and status stay in rr's process: per operation they cost
far less than an HTTP request does in the front (docs/scaling.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from functools import partial
from typing import Any

from rr.app import App
from rr.config import Section
from rr.errors import ConfigError
from rr.fronts import config as frontconfig
from rr.fronts.control import FrontGone
from rr.fronts.process import FrontProcess
from rr.metrics.samples import Family, MergedCollector

CALL_TIMEOUT = 30.0


def listeners(name: str, cfg: Section) -> dict[str, list[socket.socket]]:
    """The sockets the fronts of ``name`` share, by kind, opened here in rr."""
    out: dict[str, list[socket.socket]] = {}
    try:
        if name == "grpc":
            from rr.grpc.config import parse_listen

            listen = parse_listen(cfg.string("listen"))
            if listen.unix_path:
                out["grpc"] = [frontconfig.bind_unix(listen.unix_path, name)]
            else:
                where, _, number = listen.address.rpartition(":")
                out["grpc"] = frontconfig.bind(where.strip("[]") or None, int(number), name)
            return out
        for kind, (host, port) in frontconfig.addresses(cfg).items():
            out[kind] = frontconfig.bind(host, port, name)
    except BaseException:
        for s in (s for group in out.values() for s in group):
            s.close()
        raise
    return out


class FrontsPlugin:
    def __init__(self, app: App, name: str = "http") -> None:
        from rr.fronts.child import build

        self.app = app
        self.name = name
        self.log = app.logger(name)
        cfg = app.config.section(name)
        self.cfg = cfg
        self.count = frontconfig.processes(cfg)
        if name == "grpc" and (cfg.string("server", "native") or "native") != "native":
            raise ConfigError("grpc.processes: several front processes need the native "
                              "front (grpc.server: native)")
        frontconfig.check_shares(cfg, self.count)
        # the same config errors as one process, at the same time; its warnings are the
        # fronts' to give (each front builds the plugin again)
        was, self.log.disabled = self.log.disabled, True
        try:
            build(name, App(app.config))
        finally:
            self.log.disabled = was
        self._unix = ""
        self._sockets: list[socket.socket] = []
        self.fronts: list[FrontProcess] = []
        self._scraped: list[dict[str, Any]] = []
        self.collector = MergedCollector()
        app.metrics.register(self.collector)

    # lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        fds: dict[str, list[int]] = {}
        for kind, socks in listeners(self.name, self.cfg).items():
            self._sockets.extend(socks)
            fds[kind] = [s.fileno() for s in socks]
            self._unix = next((str(s.getsockname()) for s in socks
                               if s.family == socket.AF_UNIX), self._unix)
        self.fronts = [FrontProcess(i, partial(self._front_config, i), fds, self.log,
                                    self.name) for i in range(self.count)]
        results = await asyncio.gather(*(f.start() for f in self.fronts),
                                       return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            await self.stop()
            raise failed[0]
        for f in self.fronts:
            f.supervise()
        self.log.debug(f"{self.name} front processes started",
                       extra={"fields": {"processes": self.count,
                                         "pids": [f.pid for f in self.fronts]}})

    def _front_config(self, index: int) -> dict[str, Any]:
        config = self.app.config
        return {"config": frontconfig.front_config(config, self.count, index, self.name),
                "file": str(config.file) if config.file else None,
                "workdir": str(config.workdir)}

    async def stop(self) -> None:
        """Every front drains against the one stop deadline, all at the same time."""
        loop = asyncio.get_running_loop()
        deadline = self.app.stop_deadline or loop.time() + self.app.grace_period()
        grace = max(0.1, deadline - loop.time())
        await asyncio.gather(*(f.stop(grace) for f in self.fronts), return_exceptions=True)
        for s in self._sockets:
            s.close()
        self._sockets.clear()
        if self._unix:
            with contextlib.suppress(OSError):
                os.unlink(self._unix)

    # one place of truth ------------------------------------------------------------------
    async def _each(self, op: str, timeout: float | None = CALL_TIMEOUT) -> list[Any]:
        """``op`` on every serving front; a front that is gone (being replaced) is left
        out, as its workers are."""
        serving = [f for f in self.fronts if f.serving()]
        results = await asyncio.gather(*(f.call(op, timeout=timeout) for f in serving),
                                       return_exceptions=True)
        out = []
        for r in results:
            if isinstance(r, FrontGone):
                continue
            if isinstance(r, BaseException):
                raise r
            out.append(r)
        return out

    async def remote_workers(self) -> list[dict[str, Any]]:
        return [w for part in await self._each("workers") for w in part]

    async def reset(self) -> None:
        """Every front resets its share at the same time (each a rolling restart)."""
        await self._each("reset", timeout=None)
        self.log.info(f"{self.name} workers reset",
                      extra={"fields": {"processes": self.count}})

    async def add_worker(self) -> None:
        counts = await self._counts()
        if not counts:
            raise ConfigError(f"{self.name}: no front process is serving")
        await min(counts, key=lambda fc: fc[1])[0].call("add_worker", timeout=CALL_TIMEOUT)

    async def remove_worker(self) -> None:
        """From the front with the most workers; every front keeps one."""
        counts = await self._counts()
        if counts:
            front, n = max(counts, key=lambda fc: fc[1])
            if n > 1:
                await front.call("remove_worker", timeout=CALL_TIMEOUT)

    async def _counts(self) -> list[tuple[FrontProcess, int]]:
        serving = [f for f in self.fronts if f.serving()]
        parts = await asyncio.gather(*(f.call("workers", timeout=CALL_TIMEOUT)
                                       for f in serving), return_exceptions=True)
        return [(f, len(p)) for f, p in zip(serving, parts, strict=True)
                if not isinstance(p, BaseException)]

    async def health(self) -> int:
        """200 while any front serves with a live worker: the shared socket sends new
        connections only to fronts that accept."""
        codes = await self._each("health")
        return 200 if any(c == 200 for c in codes) else 503

    async def ready(self) -> int:
        """200 when every front is up and has a ready worker."""
        if not all(f.serving() for f in self.fronts):
            return 503
        codes = await self._each("ready")
        return 200 if len(codes) == self.count and all(c == 200 for c in codes) else 503

    async def before_scrape(self) -> None:
        parts = await self._each("scrape")
        self._scraped = [w for p in parts for w in p["workers"]]
        sources: list[list[Family]] = [p["families"] for p in parts]
        self.collector.update(sources)

    def scraped_workers(self) -> list[dict[str, Any]]:
        return list(self._scraped)
