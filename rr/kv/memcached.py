"""The ``memcached`` KV driver (aiomcache), keyed as RoadRunner's gomemcache client does.

Several servers share the key space by ``servers[crc32(key) % len(servers)]`` (gomemcache's
ServerList; a server listed twice gets twice the keys), so rr and a Go RoadRunner on the
same servers find each other's keys. aiomcache talks to one server, so the routing is
done here. Keys are sent verbatim (no per-storage prefix: two storages on one memcached
share its keys), values are the raw bytes, expiry is an absolute Unix time.

An address containing ``/`` is a unix socket path, as gomemcache reads it; ``unix://``
in front of the path is accepted too (gomemcache would take it as part of the path).
"""

from __future__ import annotations

import asyncio
import math
import zlib
from collections.abc import Awaitable
from typing import TypeVar

import aiomcache
from aiomcache.exceptions import ClientException, ValidationException
from aiomcache.pool import Connection, MemcachePool

from rr.config import Section
from rr.errors import ConfigError, RRError
from rr.kv.storage import Entry

T = TypeVar("T")

DEFAULT_ADDR = "127.0.0.1:11211"
MALFORMED = "malformed: key is too long or contains invalid characters"
MISS = "memcache: cache miss"
NO_TTL = ("memcached_plugin_ttl: not valid request for memcached, see "
          "https://github.com/memcached/memcached/issues/239")
#: gomemcache's per-operation timeout
OP_TIMEOUT = 0.5
#: gomemcache keeps two idle connections per server
POOL_SIZE = 2


def valid_key(key: str) -> bytes:
    """gomemcache's rule: at most 250 bytes, no byte <= 0x20 (space, control) or 0x7f."""
    raw = key.encode()
    if len(raw) > 250 or any(b <= 0x20 or b == 0x7F for b in raw):
        raise RRError(MALFORMED)
    return raw


def server_index(key: bytes, servers: int) -> int:
    """Which server holds ``key`` (crc32 IEEE, as Go's hash/crc32.ChecksumIEEE)."""
    return 0 if servers == 1 else zlib.crc32(key) % servers


def expiry(at: float | None) -> int:
    """Absolute Unix seconds (memcached reads values above 30 days as absolute times);
    0 means never. Rounded up so that an item never expires before its time."""
    return 0 if at is None else max(1, math.ceil(at))


class UnixPool(MemcachePool):
    """aiomcache's pool, dialing a unix socket (aiomcache itself only dials TCP)."""

    def __init__(self, path: str, size: int) -> None:
        super().__init__(path, 0, minsize=size, maxsize=size)
        self.path = path

    async def _create_new_conn(self) -> Connection | None:
        if self.size() >= self._maxsize:
            return None
        reader, writer = await asyncio.open_unix_connection(self.path)
        if self.size() < self._maxsize:
            return Connection(reader, writer)
        writer.close()
        return None


def client_for(addr: str, where: str) -> aiomcache.Client:
    """One server's client: ``host:port``, or a unix socket path (see the module doc)."""
    if "/" in addr:
        path = addr.removeprefix("unix://")
        client = aiomcache.Client(path, 0, pool_size=POOL_SIZE)
        client._pool = UnixPool(path, POOL_SIZE)  # noqa: SLF001 - no hook for the dialer
        return client
    host, sep, port = addr.rpartition(":")
    try:
        return aiomcache.Client(host if sep else addr, int(port) if sep else 11211,
                                pool_size=POOL_SIZE)
    except ValueError:
        raise ConfigError(f"{where}: expected host:port or a unix socket path, "
                          f"got {addr!r}") from None


class MemcachedStorage:
    driver = "memcached"

    def __init__(self, name: str, cfg: Section) -> None:
        self.name = name
        self.addrs = cfg.string_list("addr") or [DEFAULT_ADDR]
        self._clients = [client_for(a, f"kv.{name}.config.addr") for a in self.addrs]

    def _client(self, key: bytes) -> aiomcache.Client:
        return self._clients[server_index(key, len(self._clients))]

    async def _run(self, op: Awaitable[T]) -> T:
        try:
            return await asyncio.wait_for(op, OP_TIMEOUT * 4)
        except ValidationException:
            raise RRError(MALFORMED) from None
        except (ClientException, OSError, TimeoutError) as e:
            raise RRError(f"memcached: {e}") from e

    async def start(self) -> None:
        """One ``version`` per server, so that a wrong address fails ``rr serve``."""
        for addr, client in zip(self.addrs, self._clients, strict=True):
            try:
                await self._run(client.version())
            except RRError as e:
                raise RRError(f"kv storage {self.name}: memcached {addr}: {e}") from e

    async def stop(self) -> None:
        for client in self._clients:
            await client.close()

    async def has(self, keys: list[str]) -> list[str]:
        found = await self.mget(keys)
        return [k for k in keys if k in found]

    async def set(self, entries: list[Entry]) -> None:
        for e in entries:
            raw = valid_key(e.key)
            client = self._client(raw)
            await self._run(client.set(raw, e.value, exptime=expiry(e.expires_at)))

    async def mget(self, keys: list[str]) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for k in keys:
            raw = valid_key(k)
            client = self._client(raw)
            value, _ = await self._run(client.gets(raw))
            if value is not None:
                out[k] = value
        return out

    async def mexpire(self, expiries: dict[str, float]) -> None:
        for k, at in expiries.items():
            raw = valid_key(k)
            client = self._client(raw)
            if not await self._run(client.touch(raw, expiry(at))):
                raise RRError(MISS)

    async def ttl(self, keys: list[str]) -> dict[str, float | None]:
        # memcached cannot tell an item's expiry (memcached/memcached#239)
        raise RRError(NO_TTL)

    async def delete(self, keys: list[str]) -> None:
        for k in keys:
            raw = valid_key(k)
            client = self._client(raw)
            await self._run(client.delete(raw))   # NOT_FOUND is no error

    async def clear(self) -> None:
        """``flush_all`` on every server: it empties them, keys of other users included."""
        for client in self._clients:
            await self._run(client.flush_all())


