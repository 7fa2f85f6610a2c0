"""``http.processes`` and ``grpc.processes``: how many front processes, each one's share
of the workers, and the listening sockets they share.

An rr extension (RoadRunner serves HTTP and gRPC from one Go process, which already
spreads over every core). The functions take the plugin's section, so the error texts
name the plugin (``http.…`` or ``grpc.…``).

The pool is split, not copied: ``num_workers`` and ``dynamic_allocator.max_workers`` are
divided across the fronts (the first ones take the remainder), so the total number of PHP
workers is what the config says whatever P is.
"""

from __future__ import annotations

import copy
import socket
from typing import Any

from rr.config import Config, Section
from rr.errors import ConfigError
from rr.http import tls
from rr.pool.config import PoolConfig
from rr.unixsock import remove_stale_socket

DEFAULT_SSL_ADDRESS = "127.0.0.1:443"


def processes(cfg: Section) -> int:
    """``<plugin>.processes`` (default 1): a whole number >= 1."""
    raw = cfg.raw("processes")
    if raw is None:
        return 1
    if isinstance(raw, bool):
        raise ConfigError(f"{cfg.path}.processes: expected an integer >= 1, got {raw!r}")
    n = cfg.integer("processes", 1)
    if n < 1:
        raise ConfigError(f"{cfg.path}.processes: expected an integer >= 1, got {raw!r}")
    return n


def share(total: int, parts: int, index: int) -> int:
    """Front ``index``'s part of ``total`` split in ``parts`` (the first take the rest)."""
    return total // parts + (1 if index < total % parts else 0)


def check_shares(cfg: Section, parts: int) -> None:
    """Every front needs a worker of its own: fewer workers than fronts is a config error."""
    pool = PoolConfig.from_section(cfg.section("pool"))
    if not pool.debug and pool.num_workers < parts:
        raise ConfigError(f"{cfg.path}.pool.num_workers: {pool.num_workers} workers cannot "
                          f"be shared by {cfg.path}.processes: {parts} (each front "
                          "process needs at least one)")


def front_config(config: Config, parts: int, index: int, name: str = "http"
                 ) -> dict[str, Any]:
    """The whole config as front ``index`` of plugin ``name`` sees it: its share of the
    plugin's pool, one process (a front never starts fronts of its own)."""
    data = copy.deepcopy(config.to_dict())
    section: dict[str, Any] = data.setdefault(name, {})
    section["processes"] = 1
    pool_raw = section.get("pool")
    pool: dict[str, Any] = dict(pool_raw) if isinstance(pool_raw, dict) else {}
    resolved = PoolConfig.from_section(config.section(f"{name}.pool"))
    pool["num_workers"] = max(1, share(resolved.num_workers, parts, index))
    if resolved.dynamic is not None:
        extra = share(resolved.dynamic.max_workers, parts, index)
        if extra:
            dyn = dict(pool.get("dynamic_allocator") or {})
            dyn["max_workers"] = extra
            pool["dynamic_allocator"] = dyn
        else:
            pool.pop("dynamic_allocator", None)
    section["pool"] = pool
    return data


def addresses(cfg: Section) -> dict[str, tuple[str | None, int]]:
    """The listeners the http plugin opens: ``https`` (TLS) and/or ``http``, by kind."""
    out: dict[str, tuple[str | None, int]] = {}
    if tls.enabled(cfg):
        ssl_address = cfg.string("ssl.address", DEFAULT_SSL_ADDRESS) or DEFAULT_SSL_ADDRESS
        out["https"] = tls.split_address(ssl_address, "http.ssl.address")
    address = cfg.string("address")
    if address:
        out["http"] = tls.split_address(address, "http.address")
    return out


def bind(host: str | None, port: int, name: str = "http") -> list[socket.socket]:
    """Listening sockets for ``host:port`` as asyncio's create_server would open them
    (every address the host resolves to; all interfaces when host is empty), inheritable
    so that the front processes accept from the same queue. Bound but not listening: the
    first front to serve starts listening (asyncio does on a given socket), so that, as
    with one process, the port refuses connections until a worker pool is up."""
    infos = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM,
                               flags=socket.AI_PASSIVE)
    socks: list[socket.socket] = []
    try:
        for family, kind, proto, _, addr in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            socks.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(addr)
            sock.setblocking(False)
            sock.set_inheritable(True)
    except OSError as e:
        for s in socks:
            s.close()
        raise ConfigError(f"{name}: cannot listen on {host or ''}:{port}: {e}") from None
    return socks


def bind_unix(path: str, name: str) -> socket.socket:
    """A unix listening socket at ``path`` (bound, not listening, inheritable), replacing
    a socket file left by a killed run; a live socket or any other file fails clearly."""
    remove_stale_socket(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
    except OSError as e:
        sock.close()
        raise ConfigError(f"{name}: cannot listen on unix://{path}: {e}") from None
    sock.setblocking(False)
    sock.set_inheritable(True)
    return sock
