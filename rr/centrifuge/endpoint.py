"""The built-in WebSocket endpoint: an aiohttp site at ``websocket.address`` + ``path``
that checks the Origin, upgrades, and runs one ``Connection`` per socket. Connections
are tracked so a stop can tell each client to reconnect (3001 shutdown) and wait for
them under the one grace deadline."""

from __future__ import annotations

import asyncio
import fnmatch
import logging

from aiohttp import web

from rr.centrifuge import codes
from rr.centrifuge.codec import JSON, PROTOBUF
from rr.centrifuge.config import WebSocketConfig
from rr.centrifuge.hub import Hub
from rr.centrifuge.tokens import Verifier
from rr.centrifuge.ws import Connection
from rr.pool.pool import Pool
from rr.webserver import serve

PROTOCOLS = ("centrifuge-json", "centrifuge-protobuf")


class Endpoint:
    def __init__(self, cfg: WebSocketConfig, hub: Hub, pool: Pool,
                 log: logging.Logger) -> None:
        self.cfg = cfg
        self.hub = hub
        self.pool = pool
        self.log = log
        self.connections: set[Connection] = set()
        self.verifier = Verifier(cfg)
        self.closing = False
        self._runner: web.AppRunner | None = None

    def origin_allowed(self, origin: str | None) -> bool:
        """No Origin header (non-browser clients) passes; a browser's must match one of
        ``allowed_origins`` (``*`` wildcards), and with none configured only the same
        host is accepted, as Centrifugo does."""
        if not origin:
            return True
        if not self.cfg.allowed_origins:
            return False
        return any(fnmatch.fnmatchcase(origin.lower(), p.lower())
                   for p in self.cfg.allowed_origins)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if not self.origin_allowed(origin) and not _same_host(origin, request.host):
            return web.Response(status=403, text="request origin is not authorized")
        if self.closing:
            return web.Response(status=503, text="shutting down")
        ws = web.WebSocketResponse(protocols=PROTOCOLS, max_msg_size=self.cfg.max_message_size,
                                   autoping=True, heartbeat=None)
        await ws.prepare(request)
        fmt = request.query.get("format") or request.query.get("cf_protocol") or ""
        protobuf = fmt == "protobuf" or ws.ws_protocol == "centrifuge-protobuf"
        conn = Connection(ws, self.hub, self.pool, self.cfg, self.log,
                          PROTOBUF if protobuf else JSON, self.verifier)
        self.connections.add(conn)
        try:
            await conn.serve()
        finally:
            self.connections.discard(conn)
        return ws

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get(self.cfg.path, self.handle)
        self._runner = await serve(app, self.cfg.host, self.cfg.port,
                                   f"{self.cfg.host}:{self.cfg.port}")

    async def stop(self, grace: float) -> None:
        """Every client gets 3001 shutdown (reconnect advice), then the site closes."""
        self.closing = True
        for c in list(self.connections):
            c.disconnect(*codes.SHUTDOWN)
        deadline = asyncio.get_running_loop().time() + grace
        while self.connections and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def _same_host(origin: str | None, host: str) -> bool:
    if not origin:
        return True
    return origin.split("://", 1)[-1].rstrip("/").lower() == host.lower()
