"""The native gRPC front's listener: TCP or unix socket, cleartext (h2c prior knowledge)
or TLS with ALPN ``h2`` (and client certificates), its connections and the graceful
stop under one grace deadline."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl
from collections.abc import Callable
from pathlib import Path

from rr.errors import ConfigError
from rr.grpc.config import ServerOptions, TLSConfig
from rr.grpc.h2front import Connection
from rr.grpc.metrics import GrpcMetrics
from rr.grpc.routes import Routes
from rr.pool.pool import Pool
from rr.unixsock import remove_stale_socket

# the same client-auth mapping as the grpcio front (docs/grpc.md "Transport and limits")
_REQUIRE = ("require_and_verify_client_cert", "require_any_client_cert")


def ssl_context(tls: TLSConfig) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(tls.cert, tls.key)
    except (ssl.SSLError, OSError) as e:
        raise ConfigError(f"grpc.tls: cannot load the key pair: {e}") from None
    ctx.set_alpn_protocols(["h2"])
    if tls.root_ca:
        if b"-----BEGIN CERTIFICATE-----" not in Path(tls.root_ca).read_bytes():
            raise ConfigError(f"grpc.tls.root_ca: could not append Certs from PEM ({tls.root_ca})")
        if tls.client_auth_type in _REQUIRE:
            ctx.load_verify_locations(tls.root_ca)
            ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


class NativeServer:
    """Serves the routes on the configured listener; one ``Connection`` per client."""

    def __init__(self, options: ServerOptions, routes: Routes, pool: Callable[[], Pool],
                 log: logging.Logger, metrics: GrpcMetrics | None, name: str = "grpc",
                 sockets: list[socket.socket] | None = None) -> None:
        self.options = options
        #: listening sockets opened by rr for a front process (``grpc.processes`` > 1):
        #: served instead of binding ``listen``, and rr owns (and removes) a unix path
        self.sockets = sockets or []
        self.routes = routes
        self.pool = pool
        self.log = log
        self.metrics = metrics
        self.debug = log.isEnabledFor(logging.DEBUG)
        self.name = name
        self.connections: set[Connection] = set()
        self._servers: list[asyncio.AbstractServer] = []
        self._empty = asyncio.Event()
        self._empty.set()

    # -- metrics, called by the connections ----------------------------------------------
    def observe(self, method: str, status: str, seconds: float) -> None:
        if self.metrics is not None:
            self.metrics.observe(method, status, seconds)

    def call_started(self) -> None:
        if self.metrics is not None:
            self.metrics.queue.inc()

    def call_finished(self, method: str, status: str, seconds: float) -> None:
        m = self.metrics
        if m is not None:
            m.queue.dec()
            m.observe(method, status, seconds)

    def connection_closed(self, conn: Connection) -> None:
        self.connections.discard(conn)
        if not self.connections:
            self._empty.set()

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        o = self.options
        loop = asyncio.get_running_loop()
        ctx = ssl_context(o.tls) if o.tls is not None else None

        def factory() -> Connection:
            self._empty.clear()
            return Connection(self)

        if self.sockets:
            for sock in self.sockets:
                if sock.family == socket.AF_UNIX:
                    srv = await loop.create_unix_server(factory, sock=sock, ssl=ctx,
                                                        backlog=1024)
                else:
                    srv = await loop.create_server(factory, sock=sock, ssl=ctx, backlog=1024)
                self._servers.append(srv)
            return
        try:
            if o.listen.unix_path:
                remove_stale_socket(o.listen.unix_path)
                server = await loop.create_unix_server(factory, o.listen.unix_path, ssl=ctx,
                                                       backlog=1024)
            else:
                host, _, port = o.listen.address.rpartition(":")
                host = host.strip("[]") or "0.0.0.0"
                server = await loop.create_server(factory, host, int(port), ssl=ctx,
                                                  reuse_address=True, backlog=1024)
        except OSError as e:
            raise ConfigError(f"{self.name}.listen: cannot listen on {o.listen.address}: "
                              f"{e}") from None
        self._servers.append(server)

    async def stop(self, grace: float) -> None:
        """Stop accepting, GOAWAY to every connection, let in-flight calls finish
        within ``grace``, then cancel what is left and close."""
        for s in self._servers:
            s.close()
        for conn in list(self.connections):
            conn.goaway()
        if self.connections:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._empty.wait(), grace)
        for conn in list(self.connections):
            conn.abort()
        for s in self._servers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(s.wait_closed(), 1.0)
        self._servers.clear()
        if self.options.listen.unix_path and not self.sockets:
            with contextlib.suppress(OSError):
                os.unlink(self.options.listen.unix_path)

