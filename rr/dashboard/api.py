"""The dashboard's JSON API (docs/dashboard.md): reads under ``GET /api/…``, live updates
as server-sent events on ``/api/events``, actions as ``POST /api/…``.

Errors are JSON ``{"error": text}``; the text is the one ``rr jobs`` would print.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from rr.dashboard import sources
from rr.dashboard.auth import require_action, require_read
from rr.errors import RRError
from rr.rpc.registry import RPCError

if TYPE_CHECKING:
    from rr.dashboard.plugin import DashboardPlugin

STATIC = Path(__file__).parent / "static"
FILES = {"/": ("index.html", "text/html"), "/dashboard.js": ("dashboard.js", "text/javascript"),
         "/dashboard.css": ("dashboard.css", "text/css")}
# the page loads nothing from anywhere else, and says so to the browser
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
       "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
WRITE_TIMEOUT = 10.0  # a live-update client that does not read for this long is dropped
MAX_BODY = 64 * 1024
DLQ_LIMIT, DLQ_MAX = 100, 10_000

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, default=str),
                             headers={"Cache-Control": "no-store"})


def _error_status(text: str) -> int:
    return 404 if text.startswith("no such pipeline") or "no such plugin" in text else 409


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refusals (401, 403, 405, 400) as ``{"error": text}`` too, keeping their headers."""
    try:
        return await handler(request)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        headers = {k: v for k, v in e.headers.items()
                   if k.lower() in ("www-authenticate", "allow")}
        resp = _json({"error": e.text or e.reason}, e.status)
        resp.headers.update(headers)
        return resp


class API:
    def __init__(self, plugin: DashboardPlugin) -> None:
        self.p = plugin
        self.app = plugin.app
        self.cfg = plugin.cfg
        self.streams = 0

    def routes(self, web_app: web.Application) -> None:
        web_app.middlewares.append(json_errors)
        r = web_app.router
        for path in FILES:
            r.add_get(path, self.static)
        r.add_get("/api/snapshot", self.read(self.snapshot))
        r.add_get("/api/pipelines", self.read(self.pipelines))
        r.add_get("/api/workers", self.read(self.workers))
        r.add_get("/api/http", self.read(self.http))
        r.add_get("/api/cron", self.read(self.cron))
        r.add_get("/api/dlq/{pipeline}", self.read(self.dlq))
        r.add_get("/api/events", self.read(self.events))
        # every method reaches the action handlers, so that a GET gets a clear 405
        r.add_route("*", "/api/pipelines/{pipeline}/pause", self.act(self.pause))
        r.add_route("*", "/api/pipelines/{pipeline}/resume", self.act(self.resume))
        r.add_route("*", "/api/dlq/{pipeline}/replay", self.act(self.replay))
        r.add_route("*", "/api/workers/{plugin}/reset", self.act(self.reset))

    # -- wrappers -------------------------------------------------------------------------
    def read(self, fn: Handler) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            require_read(request, self.cfg)
            return await self._answer(fn, request)

        return handler

    def act(self, fn: Handler) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            require_action(request, self.cfg)
            return await self._answer(fn, request)

        return handler

    async def _answer(self, fn: Handler, request: web.Request) -> web.StreamResponse:
        try:
            return await fn(request)
        except (RPCError, RRError) as e:
            return _json({"error": str(e)}, _error_status(str(e)))

    # -- reads ----------------------------------------------------------------------------
    async def static(self, request: web.Request) -> web.StreamResponse:
        require_read(request, self.cfg)
        name, kind = FILES[request.path]
        body = (STATIC / name).read_bytes()
        return web.Response(body=body, content_type=kind, charset="utf-8",
                            headers={"Content-Security-Policy": CSP,
                                     "X-Content-Type-Options": "nosniff",
                                     "Cache-Control": "no-cache"})

    async def snapshot(self, request: web.Request) -> web.StreamResponse:
        return _json(await self.p.snapshot())

    async def pipelines(self, request: web.Request) -> web.StreamResponse:
        return _json(await sources.pipelines(self.app, self.p.history, self.p.reading()))

    async def workers(self, request: web.Request) -> web.StreamResponse:
        return _json(await sources.workers(self.app))

    async def http(self, request: web.Request) -> web.StreamResponse:
        return _json(sources.http(self.app, self.p.history, self.p.reading()))

    async def cron(self, request: web.Request) -> web.StreamResponse:
        return _json(sources.cron(self.app))

    async def dlq(self, request: web.Request) -> web.StreamResponse:
        """The first ``limit`` dead letters (default 100); the count of all of them is in
        ``X-Total-Count``, so a queue of a million failures is not one huge answer."""
        raw = request.query.get("limit", str(DLQ_LIMIT))
        if not raw.isdigit() or not 0 < int(raw) <= DLQ_MAX:
            raise web.HTTPBadRequest(text=f"limit: expected 1..{DLQ_MAX}, got {raw!r}")
        jobs = await sources.dead_letters(self.app, request.match_info["pipeline"])
        resp = _json(jobs[:int(raw)])
        resp.headers["X-Total-Count"] = str(len(jobs))
        return resp

    async def events(self, request: web.Request) -> web.StreamResponse:
        """One ``snapshot`` event per interval; the snapshot is built once per interval for
        all clients, and a client that stops reading is dropped, not buffered for."""
        if self.streams >= self.cfg.max_streams:
            return _json({"error": "too many live-update connections"}, 503)
        self.streams += 1
        try:
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               "Cache-Control": "no-store",
                                               "X-Accel-Buffering": "no"})
            await resp.prepare(request)
            # the first one at once, built for this client: the page is never empty
            seq, body = self.p.current()
            if body is None:
                body = json.dumps(await self.p.snapshot(), default=str).encode()
            while not self.p.stopping:
                frame = b"event: snapshot\ndata: " + body + b"\n\n"
                try:
                    async with asyncio.timeout(WRITE_TIMEOUT):
                        await resp.write(frame)
                except (TimeoutError, ConnectionError):
                    break
                seq, next_body = await self.p.next_snapshot(seq)
                if next_body is None:
                    break
                body = next_body
            return resp
        finally:
            self.streams -= 1

    # -- actions --------------------------------------------------------------------------
    async def _body(self, request: web.Request) -> dict[str, Any]:
        if not request.can_read_body:
            return {}
        raw = await request.content.read(MAX_BODY + 1)
        if len(raw) > MAX_BODY:
            raise web.HTTPRequestEntityTooLarge(MAX_BODY, len(raw))
        if not raw.strip():
            return {}
        try:
            data = json.loads(raw)
        except ValueError as e:
            raise web.HTTPBadRequest(text=f"invalid JSON body: {e}") from None
        if not isinstance(data, dict):
            raise web.HTTPBadRequest(text="the JSON body must be an object")
        return data

    async def pause(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["pipeline"]
        await sources.pause(self.app, name)
        self.p.log.info("dashboard: pipeline %s paused", name)
        return _json({"pipeline": name, "paused": True})

    async def resume(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["pipeline"]
        await sources.resume(self.app, name)
        self.p.log.info("dashboard: pipeline %s resumed", name)
        return _json({"pipeline": name, "paused": False})

    async def replay(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        job_id, to = str(body.get("id") or ""), str(body.get("to") or "")
        name = request.match_info["pipeline"]
        result = await sources.replay(self.app, name, job_id, to)
        self.p.log.info("dashboard: replayed %s job(s) from %s", result.get("replayed"), name)
        return _json(result, 200 if not result.get("failed") else 409)

    async def reset(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["plugin"]
        await sources.reset(self.app, name)
        return _json({"plugin": name, "reset": True})
