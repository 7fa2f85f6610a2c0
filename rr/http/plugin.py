"""The ``http`` plugin: listeners, middleware chain and the http worker pool."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import TYPE_CHECKING, Any

from rr.app import App
from rr.config import Section
from rr.errors import ConfigError
from rr.http import h1, tls
from rr.http.accesslog import AccessLog
from rr.http.chain import Handler, Middleware
from rr.http.entry import Entry
from rr.http.h2 import H2Options, H2Protocol
from rr.http.h2c import factory as chooser
from rr.http.limits import HttpLimits
from rr.http.middleware import gzip, headers, proxy_ip, static
from rr.http.middleware import metrics as metrics_mw
from rr.http.php import HandlerConfig, PHPHandler
from rr.http.protocol import Listener
from rr.http.uploads import UploadsConfig
from rr.metrics.http import HttpMetrics
from rr.pool.pool import Pool

if TYPE_CHECKING:
    from rr.fronts.plugin import FrontsPlugin

NO_METHOD = ("unable to run http service, no method has been specified "
             "(http, https, http/2 or FastCGI)")
MIB = 1024 * 1024


class HttpPlugin:
    name = "http"

    def __init__(self, app: App) -> None:
        self.app = app
        self.log = app.logger("http")
        cfg = app.config.section("http")
        self.cfg = cfg
        self.address = cfg.string("address")
        self.tls_enabled = tls.enabled(cfg)
        if not self.address and not self.tls_enabled:
            if cfg.has("fcgi"):
                raise ConfigError("http.fcgi: the FastCGI listener is not supported")
            raise ConfigError(f"http: {NO_METHOD}")
        if self.address and ":" not in self.address:
            raise ConfigError(f"http.address: malformed http server address {self.address!r}")
        max_size = cfg.integer("max_request_size") or 1000
        self.handler_cfg = HandlerConfig(
            max_request_size=max_size * MIB,
            raw_body=cfg.boolean("raw_body"),
            internal_error_code=cfg.integer("internal_error_code", 500) or 500,
            debug=cfg.boolean("pool.debug"),
            uploads=UploadsConfig.from_config(cfg, app.config.section("server")),
        )
        self.limits = HttpLimits.from_config(cfg)
        self.metrics: HttpMetrics | None = None
        self.middleware = self._middleware(cfg)
        self.access = AccessLog(self.log, cfg.boolean("access_logs"))
        self.ssl_context = tls.context(cfg.section("ssl")) if self.tls_enabled else None
        self._pool: Pool = app.make_pool("http", cfg.section("pool"), mode="http")
        self._servers: list[tuple[Listener, asyncio.AbstractServer]] = []
        self.h2c = cfg.boolean("http2.h2c")
        # 0 -> 128; the HTTPS side keeps Go's 250 unless h2c is on (spec/grpc.md §11)
        self.max_streams = cfg.integer("http2.max_concurrent_streams", 128) or 128
        self._h2: set[H2Protocol] = set()
        #: listening sockets opened by rr for a front process (``http.processes`` > 1), by
        #: kind ("http", "https"); a kind found here is served on them instead of bound
        self.inherited: dict[str, list[socket.socket]] = {}
        if cfg.has("http3"):
            self.log.warning("http.http3: HTTP/3 (QUIC) is not served; "
                             "the http3 keys are ignored")
        if cfg.has("fcgi"):
            self.log.warning("http.fcgi is not supported and is ignored")

    # -- configuration -----------------------------------------------------------------
    def _middleware(self, cfg: Section) -> list[Middleware]:
        available: dict[str, Any] = {
            "headers": lambda: headers.build(cfg),
            "static": lambda: static.build(cfg),
            "gzip": lambda: gzip.build(),
            "proxy_ip_parser": lambda: proxy_ip.build(cfg, logging.getLogger("proxy_ip_parser")),
            "http_metrics": self._metrics_middleware,
        }
        chain: list[Middleware] = []
        for name in cfg.string_list("middleware"):
            name = name.strip()
            if not name:
                continue
            factory = available.get(name)
            if factory is None:
                self.log.warning("requested middleware does not exist",
                                 extra={"fields": {"requested": name}})
                continue
            mw = factory()
            if mw is not None:
                chain.append(mw)
        return chain

    def _metrics_middleware(self) -> Middleware | None:
        if not self.app.config.has("metrics"):
            # nothing would ever expose the series: say so instead of counting in vain
            self.log.warning("http_metrics middleware needs the metrics plugin: disabled")
            return None
        if self.metrics is None:
            self.metrics = HttpMetrics(self.app.metrics)
        return metrics_mw.build(self.metrics)

    def _chain(self, scheme: str) -> Handler:
        php = PHPHandler(
            lambda: self._pool, self.handler_cfg, scheme, self.log,
            on_no_free_workers=self.metrics.no_free_workers if self.metrics else None)
        php.hooks_possible = bool(self.middleware)
        handler: Handler = php
        for mw in self.middleware:  # the last listed ends up outermost
            handler = mw(handler)
        return Entry(handler, self.access, self.log)

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def pool(self) -> Pool:
        return self._pool

    async def start(self) -> None:
        await self._pool.start()
        if self.tls_enabled:
            ssl_cfg = self.cfg.section("ssl")
            ssl_address = ssl_cfg.string("address", "127.0.0.1:443") or "127.0.0.1:443"
            host, port = tls.split_address(ssl_address, "http.ssl.address")
            await self._listen(self._chain("https"), host, port, self.ssl_context,
                               self.max_streams if self.h2c else 250, "https")
            self.log.debug("https server started", extra={"fields": {"address": ssl_address}})
        if self.address:
            host, port = tls.split_address(self.address, "http.address")
            handler: Handler = self._chain("http")
            if self.tls_enabled and self.cfg.boolean("ssl.redirect"):
                _, ssl_port = tls.split_address(
                    self.cfg.string("ssl.address", "127.0.0.1:443") or "127.0.0.1:443",
                    "http.ssl.address")
                handler = Entry(tls.redirector(ssl_port), self.access, self.log)
            await self._listen(handler, host, port, None,
                               self.max_streams if self.h2c else 0, "http")
            self.log.debug("http server started", extra={"fields": {"address": self.address}})

    async def _listen(self, handler: Handler, host: str | None, port: int,
                      ssl_context: Any, h2_streams: int, kind: str) -> None:
        """``h2_streams`` > 0: HTTP/2 is served next to HTTP/1.1 (ALPN or h2c)."""
        server = Listener(handler, self.limits, self.log, handler_cancellation=False,
                          access_log=None, max_line_size=65536, max_field_size=65536)
        loop = asyncio.get_running_loop()
        http1 = h1.factory(server, handler)
        factory: Any = http1
        if h2_streams:
            options = H2Options(h2_streams, self.handler_cfg.max_request_size)
            tls_on = ssl_context is not None
            factory = chooser(http1, lambda: H2Protocol(
                handler, self.limits, options, server.rejects, tls_on, self._h2), tls_on,
                self.limits.read_header_timeout)
        for sock in self.inherited.get(kind, []):
            srv = await loop.create_server(factory, sock=sock, ssl=ssl_context, backlog=1024)
            self._servers.append((server, srv))
        if kind in self.inherited:
            return
        try:
            srv = await loop.create_server(factory, host, port, ssl=ssl_context,
                                           reuse_address=True, backlog=1024)
        except OSError as e:
            raise ConfigError(f"http: cannot listen on {host or ''}:{port}: {e}") from None
        self._servers.append((server, srv))

    async def stop(self) -> None:
        """Stop accepting, let in-flight requests finish (grace period), then the pool."""
        loop = asyncio.get_running_loop()
        deadline = self.app.stop_deadline or loop.time() + self.app.grace_period()
        grace = max(0.1, deadline - loop.time())
        for _, srv in self._servers:
            srv.close()
        listeners = {id(server): server for server, _ in self._servers}.values()
        await asyncio.gather(*(server.shutdown(grace) for server in listeners),
                             *(conn.shutdown(grace) for conn in list(self._h2)),
                             return_exceptions=True)
        self._servers.clear()
        await self._pool.destroy()

    async def reset(self) -> None:
        await self._pool.reset()

    def health(self) -> int:
        return 200 if self._pool.alive() else 503

    def ready(self) -> int:
        return 200 if self._pool.ready() else 503


def create(app: App) -> HttpPlugin | FrontsPlugin | None:
    if not app.config.has("http"):
        return None
    from rr.fronts.config import processes

    if processes(app.config.section("http")) > 1:
        from rr.fronts.plugin import FrontsPlugin

        return FrontsPlugin(app)
    return HttpPlugin(app)
