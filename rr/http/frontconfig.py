"""``http.processes``: how many HTTP front processes, each one's share of the workers, and
the listening sockets they share.

An rr extension (RoadRunner serves HTTP from one Go process, which already spreads over
every core). The pool is split, not copied: ``num_workers`` and
``dynamic_allocator.max_workers`` are divided across the fronts (the first ones take the
remainder), so the total number of PHP workers is what the config says whatever P is.
"""

from __future__ import annotations

import copy
import socket
from typing import Any

from rr.config import Config, Section
from rr.errors import ConfigError
from rr.http import tls
from rr.pool.config import PoolConfig

DEFAULT_SSL_ADDRESS = "127.0.0.1:443"


def processes(cfg: Section) -> int:
    """``http.processes`` (default 1): a whole number >= 1."""
    raw = cfg.raw("processes")
    if raw is None:
        return 1
    if isinstance(raw, bool):
        raise ConfigError(f"http.processes: expected an integer >= 1, got {raw!r}")
    n = cfg.integer("processes", 1)
    if n < 1:
        raise ConfigError(f"http.processes: expected an integer >= 1, got {raw!r}")
    return n


def share(total: int, parts: int, index: int) -> int:
    """Front ``index``'s part of ``total`` split in ``parts`` (the first take the rest)."""
    return total // parts + (1 if index < total % parts else 0)


def check_shares(cfg: Section, parts: int) -> None:
    """Every front needs a worker of its own: fewer workers than fronts is a config error."""
    pool = PoolConfig.from_section(cfg.section("pool"))
    if not pool.debug and pool.num_workers < parts:
        raise ConfigError(f"http.pool.num_workers: {pool.num_workers} workers cannot be "
                          f"shared by http.processes: {parts} (each front process needs "
                          "at least one)")


def front_config(config: Config, parts: int, index: int) -> dict[str, Any]:
    """The whole config as front ``index`` sees it: its share of the http pool, one
    process (a front never starts fronts of its own)."""
    data = copy.deepcopy(config.to_dict())
    http: dict[str, Any] = data.setdefault("http", {})
    http["processes"] = 1
    pool_raw = http.get("pool")
    pool: dict[str, Any] = dict(pool_raw) if isinstance(pool_raw, dict) else {}
    resolved = PoolConfig.from_section(config.section("http.pool"))
    pool["num_workers"] = max(1, share(resolved.num_workers, parts, index))
    if resolved.dynamic is not None:
        extra = share(resolved.dynamic.max_workers, parts, index)
        if extra:
            dyn = dict(pool.get("dynamic_allocator") or {})
            dyn["max_workers"] = extra
            pool["dynamic_allocator"] = dyn
        else:
            pool.pop("dynamic_allocator", None)
    http["pool"] = pool
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


def bind(host: str | None, port: int) -> list[socket.socket]:
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
        raise ConfigError(f"http: cannot listen on {host or ''}:{port}: {e}") from None
    return socks
