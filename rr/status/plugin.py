"""The ``status`` plugin: ``/health``, ``/ready`` and ``/jobs`` on ``status.address``.

Readiness is only as honest as the plugins' own checks: the http plugin answers from its
pool, the jobs plugin from its pool *and* its consuming drivers' connections.
"""

from __future__ import annotations

import inspect
from typing import Any

from aiohttp import web

from rr.app import App
from rr.metrics.listen import split_address
from rr.status.checks import SHUTTING_DOWN, Kind, check, jobs_report, report, supports
from rr.status.rpc import StatusService
from rr.webserver import serve

TEXT = "text/plain; charset=utf-8"


def _text(body: str, status: int) -> web.Response:
    """Go's http.Error: the text plus a newline."""
    return web.Response(body=(body + "\n").encode(), status=status,
                        headers={"Content-Type": TEXT, "X-Content-Type-Options": "nosniff"})


class StatusPlugin:
    name = "status"

    def __init__(self, app: App) -> None:
        self.app = app
        self.log = app.logger("status")
        section = app.config.section("status")
        # the schema requires an address; an empty one is Go's ":80"
        self.address = section.string("address") or ":80"
        self.host, self.port = split_address(self.address, "status.address")
        self.unavailable = section.integer("unavailable_status_code", 503) or 503
        self.check_timeout = section.integer("check_timeout", 60) or 60
        self._stopping = False
        self._runner: web.AppRunner | None = None
        StatusService(lambda: dict(self.app.plugins)).register(app.rpc)

    @property
    def shutting_down(self) -> bool:
        return self._stopping or self.app.shutting_down

    # endpoints ------------------------------------------------------------------------
    async def _checks(self, request: web.Request, kind: Kind) -> web.Response:
        if self.shutting_down:
            return _text(SHUTTING_DOWN, 200 if kind == "health" else 503)
        wanted = request.query.getall("plugin", [])
        plugins = dict(self.app.plugins)
        if wanted:
            selected = []
            for name in dict.fromkeys(wanted):
                plugin = plugins.get(name)
                if plugin is None or not supports(plugin, kind):
                    self.log.debug("plugin %s does not support the %s check, skipped",
                                   name, kind)
                    continue
                selected.append(plugin)
        else:
            selected = [p for p in plugins.values() if supports(p, kind)]
        results = [await check(p, kind) for p in selected]
        for r in results:
            if r.code is None:
                self.log.error("%s check of plugin %s failed: %s", kind, r.plugin, r.error)
        status, body = report(results, self.unavailable)
        return web.Response(body=body, status=status, headers={"Content-Type": TEXT})

    async def health_endpoint(self, request: web.Request) -> web.Response:
        return await self._checks(request, "health")

    async def ready_endpoint(self, request: web.Request) -> web.Response:
        return await self._checks(request, "ready")

    async def jobs_endpoint(self, request: web.Request) -> web.Response:
        if self.shutting_down:
            return _text(SHUTTING_DOWN, 503)
        plugin = self.app.plugins.get("jobs")
        states_fn = getattr(plugin, "jobs_states", None)
        if states_fn is None:
            return _text("jobs plugin not found", self.unavailable)
        try:
            states: Any = states_fn()
            if inspect.isawaitable(states):
                states = await states
            body = jobs_report(list(states or []))
        except Exception as e:  # noqa: BLE001 - reported as unavailable
            self.log.error("jobs state: %s", e)
            return _text("jobs plugin not found", self.unavailable)
        return web.Response(body=body, status=200, headers={"Content-Type": TEXT})

    # lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        web_app = web.Application()
        web_app.router.add_route("*", "/health", self.health_endpoint)
        web_app.router.add_route("*", "/ready", self.ready_endpoint)
        web_app.router.add_route("*", "/jobs", self.jobs_endpoint)
        self._runner = await serve(web_app, self.host, self.port, self.address,
                                   keepalive_timeout=float(self.check_timeout))
        self.log.info("status server listening on %s", self.address)

    async def stop(self) -> None:
        self._stopping = True
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def create(app: App) -> StatusPlugin | None:
    if not app.config.has("status"):
        return None
    return StatusPlugin(app)
