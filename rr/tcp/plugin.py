"""The ``tcp`` plugin: one listener per ``tcp.servers`` entry, one pool (RR_MODE=tcp),
the ``tcp.Close`` RPC (spec/tcp.md §1, §7)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from typing import Any

from rr.app import App
from rr.errors import RRError
from rr.pool.pool import Pool
from rr.rpc.registry import RPCError
from rr.tcp.config import ServerConfig, TcpConfig
from rr.tcp.connection import Connection


class Listener:
    """One ``tcp.servers.<name>`` entry: its socket and the connections it accepted."""

    def __init__(self, cfg: ServerConfig, pool: Pool, connections: dict[str, Connection],
                 tcp: TcpConfig, log: logging.Logger) -> None:
        self.cfg = cfg
        self.pool = pool
        self.connections = connections
        self.read_buf_size = tcp.read_buf_size
        self.max_message_size = tcp.max_message_size
        self.log = log
        self.server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        kind, host, port = self.cfg.listen_target()
        try:
            if kind == "unix":
                assert host is not None
                if os.path.exists(host):
                    os.unlink(host)
                self.server = await loop.create_unix_server(lambda: Connection(self), host)
            else:
                self.server = await loop.create_server(
                    lambda: Connection(self), host, port, reuse_address=True,
                    reuse_port=hasattr(socket, "SO_REUSEPORT"), backlog=1024)
        except OSError as e:
            raise RRError(f"tcp.servers.{self.cfg.name}: cannot listen on {self.cfg.addr}: "
                          f"{e}") from None

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


class TcpPlugin:
    name = "tcp"

    def __init__(self, app: App) -> None:
        self.app = app
        self.log = app.logger("tcp")
        section = app.config.section("tcp")
        self.cfg = TcpConfig.from_section(section)
        self._pool = app.make_pool("tcp", section.section("pool"), mode="tcp")
        self.connections: dict[str, Connection] = {}
        self.listeners = [Listener(s, self._pool, self.connections, self.cfg, self.log)
                          for s in self.cfg.servers]
        app.rpc.json("tcp.Close", self.rpc_close)

    @property
    def pool(self) -> Pool:
        return self._pool

    async def start(self) -> None:
        await self._pool.start()
        try:
            await asyncio.gather(*(listener.start() for listener in self.listeners))
        except BaseException:
            for listener in self.listeners:
                listener.close()
            await self._pool.destroy(timeout=0)
            raise
        for listener in self.listeners:
            self.log.debug("tcp server started", extra={"fields": {
                "server": listener.cfg.name, "address": listener.cfg.addr}})

    async def stop(self) -> None:
        """Stop accepting, close every client socket, let in-flight events and the CLOSE
        events run until half the grace period, then stop the workers."""
        grace = self.app.config.duration("endure.grace_period", 30.0) or 30.0
        deadline = asyncio.get_running_loop().time() + grace / 2
        for listener in self.listeners:
            listener.close()
        conns = list(self.connections.values())
        for conn in conns:
            conn.close()
        tasks = [c.task for c in conns if c.task is not None and not c.task.done()]
        if tasks:
            left = max(0.1, deadline - asyncio.get_running_loop().time())
            _, pending = await asyncio.wait(tasks, timeout=left)
            for conn in conns:
                conn.abort()
            for t in pending:
                t.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for listener in self.listeners:
            if listener.server is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(listener.server.wait_closed(), 1.0)
        # a worker still busy at the deadline gets the stop command, then SIGKILL
        await self._pool.destroy(max(0.0, deadline - asyncio.get_running_loop().time()))

    async def reset(self) -> None:
        await self._pool.reset()

    def health(self) -> int:
        return 200 if self._pool.alive() else 503

    def ready(self) -> int:
        return 200 if self._pool.ready() else 503

    async def rpc_close(self, arg: Any) -> bool:
        """``tcp.Close "<uuid>"``: unknown ids are not an error (spec §7)."""
        if isinstance(arg, (bytes, bytearray)):
            arg = bytes(arg).decode("utf-8", "replace")
        if not isinstance(arg, str):
            raise RPCError(f"tcp.Close: expected the connection uuid as a JSON string, "
                           f"got {arg!r}")
        conn = self.connections.get(arg)
        if conn is not None:
            conn.close()
        return True


def create(app: App) -> TcpPlugin | None:
    if not app.config.has("tcp"):
        return None
    return TcpPlugin(app)
