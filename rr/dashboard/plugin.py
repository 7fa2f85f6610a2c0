"""The ``dashboard`` plugin: a web page and JSON API on ``dashboard.address`` showing the
pipelines, dead letters, worker pools, HTTP traffic and cron entries of this server.

It starts after the plugins it reads and owns no state of theirs: once per interval it
takes one reading of the metrics registry (kept as history for rates) and, while a page
is open, builds one snapshot that every live-update stream shares.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
from typing import Any

from aiohttp import web

from rr.app import App
from rr.dashboard import sources
from rr.dashboard.api import API
from rr.dashboard.config import DashboardConfig
from rr.dashboard.history import History, Reading, read
from rr.metrics.samples import refresh
from rr.webserver import serve


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class DashboardPlugin:
    name = "dashboard"

    def __init__(self, app: App) -> None:
        self.app = app
        self.log = app.logger("dashboard")
        self.cfg = DashboardConfig.from_section(app.config.section("dashboard"))
        self.history = History(self.cfg.history, self.cfg.interval)
        self.api = API(self)
        self.stopping = False
        self._seq = 0
        self._body: bytes | None = None
        self._fresh = asyncio.Condition()
        self._sampler: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None

    # -- data ------------------------------------------------------------------------------
    def reading(self) -> Reading:
        """A reading taken now, also kept when the last one is an interval old."""
        now = read(self.app.metrics)
        last = self.history.readings[-1] if self.history.readings else None
        if last is None or now.t - last.t >= self.cfg.interval * 0.9:
            self.history.add(now)
        return now

    async def snapshot(self) -> dict[str, Any]:
        return await sources.snapshot(self.app, self.history, self.reading())

    def current(self) -> tuple[int, bytes | None]:
        return self._seq, self._body

    async def next_snapshot(self, seen: int) -> tuple[int, bytes | None]:
        """The newest snapshot once it is newer than ``seen`` (None: shutting down)."""
        async with self._fresh:
            await self._fresh.wait_for(lambda: self.stopping or
                                       (self._body is not None and self._seq != seen))
            return self._seq, None if self.stopping else self._body

    async def _sample(self) -> None:
        failed = ""
        while True:
            try:
                await refresh(self.app, self.log)  # http.processes: the fronts' series
                if self.api.streams:
                    body = json.dumps(await self.snapshot(), default=str).encode()
                    async with self._fresh:
                        self._seq += 1
                        self._body = body
                        self._fresh.notify_all()
                else:
                    self.reading()
                    self._body = None
                failed = ""
            except Exception as e:  # noqa: BLE001 - one bad reading must not end the page
                if str(e) != failed:  # once per distinct error, not once per second
                    self.log.warning("dashboard: snapshot failed: %s", e)
                failed = str(e)
            await asyncio.sleep(self.cfg.interval)

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        if not _loopback(self.cfg.host) and not self.cfg.auth_configured:
            self.log.warning("dashboard: listening on %s without credentials: anyone who "
                             "reaches it can read job payloads", self.cfg.address)
        web_app = web.Application(client_max_size=64 * 1024)
        self.api.routes(web_app)
        self._runner = await serve(web_app, self.cfg.host, self.cfg.port, self.cfg.address,
                                   shutdown_timeout=2.0)
        self._sampler = asyncio.get_running_loop().create_task(self._sample())
        self.log.info("dashboard listening on http://%s", self.cfg.address)

    async def stop(self) -> None:
        self.stopping = True
        async with self._fresh:  # open streams end now, not at the runner's deadline
            self._fresh.notify_all()
        if self._sampler is not None:
            self._sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampler
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def create(app: App) -> DashboardPlugin | None:
    if not app.config.has("dashboard") or not app.config.has("dashboard.address"):
        return None
    return DashboardPlugin(app)
