"""The ``redis`` KV driver (redis-py asyncio), configured like RoadRunner's go-redis client.

One address is a single node; ``master_name`` means Sentinel; two or more addresses mean
Cluster. Values are stored as the raw bytes given. ``Clear`` is ``FLUSHDB``, exactly as
RoadRunner does it: it empties the *whole logical database*, including keys that were
never written through rr — give each storage its own ``db``.
"""

from __future__ import annotations

import math
import ssl
import time
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError

from rr.config import Section
from rr.errors import ConfigError, RRError
from rr.kv.storage import Entry


def _split_addr(addr: str, where: str) -> tuple[str, int]:
    host, sep, port = addr.rpartition(":")
    if not sep:
        return addr, 6379
    try:
        return host or "127.0.0.1", int(port)
    except ValueError:
        raise ConfigError(f"{where}: expected host:port, got {addr!r}") from None


def _tls_context(tls: Section) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        if tls.string("root_ca"):
            ctx.load_verify_locations(tls.string("root_ca"))
        if tls.string("cert") and tls.string("key"):
            ctx.load_cert_chain(tls.string("cert"), tls.string("key"))
    except OSError as e:
        raise ConfigError(f"{tls.path}: {e}") from None
    return ctx


class RedisStorage:
    driver = "redis"

    def __init__(self, name: str, cfg: Section) -> None:
        self.name = name
        self.addrs = cfg.string_list("addrs", ["127.0.0.1:6379"]) or ["127.0.0.1:6379"]
        self.db = cfg.integer("db", 0)
        read_timeout = cfg.duration("read_timeout") or 3.0
        max_retries = cfg.integer("max_retries", 0)
        retries = 3 if max_retries == 0 else max(max_retries, 0)
        backoff = ExponentialBackoff(cap=cfg.duration("max_retry_backoff") or 0.512,
                                     base=cfg.duration("min_retry_backoff") or 0.008)
        pool_size = cfg.integer("pool_size", 0) or None
        common: dict[str, Any] = {
            "username": cfg.string("username") or None,
            "password": cfg.string("password") or None,
            "socket_connect_timeout": cfg.duration("dial_timeout") or 5.0,
            "socket_timeout": read_timeout,
            "retry": Retry(backoff, retries),
        }
        if cfg.has("tls"):
            common["ssl"] = True
            tls = cfg.section("tls")
            common["ssl_ca_certs"] = tls.string("root_ca") or None
            common["ssl_certfile"] = tls.string("cert") or None
            common["ssl_keyfile"] = tls.string("key") or None
            common["ssl_min_version"] = ssl.TLSVersion.TLSv1_2
            _tls_context(tls)  # fail at startup on unreadable files, as RoadRunner does
        where = f"kv.{name}.config.addrs"
        self._client: Any
        self._sentinel: Sentinel | None = None
        master = cfg.string("master_name")
        if master:
            nodes = [_split_addr(a, where) for a in self.addrs]
            sentinel_kwargs = {"password": cfg.string("sentinel_password") or None}
            self._sentinel = Sentinel(nodes, sentinel_kwargs=sentinel_kwargs, db=self.db,
                                      **common)
            self._client = self._sentinel.master_for(master)
        elif len(self.addrs) > 1:
            startup = [ClusterNode(*_split_addr(a, where)) for a in self.addrs]
            self._client = RedisCluster(startup_nodes=startup,
                                        read_from_replicas=cfg.boolean("read_only"),
                                        max_connections=pool_size or 2**31, **common)
        else:
            host, port = _split_addr(self.addrs[0], where)
            self._client = aioredis.Redis(host=host, port=port, db=self.db,
                                          max_connections=pool_size, **common)

    async def start(self) -> None:
        """Ping once so that a wrong address fails ``rr serve`` (RoadRunner does the same)."""
        try:
            await self._client.ping()
        except (RedisError, OSError) as e:
            raise RRError(f"kv storage {self.name}: redis {','.join(self.addrs)}: {e}") from e

    async def stop(self) -> None:
        await self._client.aclose()

    async def _run(self, fn: Any) -> Any:
        try:
            return await fn()
        except RedisError as e:
            raise RRError(f"redis: {e}") from e

    # operations -----------------------------------------------------------------------
    async def has(self, keys: list[str]) -> list[str]:
        async def go() -> list[str]:
            pipe = self._client.pipeline(transaction=False)
            for k in keys:
                pipe.exists(k)
            counts = await pipe.execute()
            return [k for k, n in zip(keys, counts, strict=True) if n]

        result: list[str] = await self._run(go)
        return result

    async def set(self, entries: list[Entry]) -> None:
        async def go() -> None:
            now = time.time()
            pipe = self._client.pipeline(transaction=False)
            for e in entries:
                if e.expires_at is None:
                    pipe.set(e.key, e.value)
                elif e.expires_at <= now:
                    # go-redis treats a past expiry as "no expiry" (RoadRunner keeps the key
                    # forever); the item is expired on arrival, so it is removed instead.
                    pipe.delete(e.key)
                else:
                    pipe.set(e.key, e.value, px=max(1, math.ceil((e.expires_at - now) * 1000)))
            await pipe.execute()

        await self._run(go)

    async def mget(self, keys: list[str]) -> dict[str, bytes]:
        async def go() -> dict[str, bytes]:
            pipe = self._client.pipeline(transaction=False)
            for k in keys:
                pipe.get(k)
            values = await pipe.execute()
            return {k: v for k, v in zip(keys, values, strict=True) if v is not None}

        result: dict[str, bytes] = await self._run(go)
        return result

    async def mexpire(self, expiries: dict[str, float]) -> None:
        async def go() -> None:
            pipe = self._client.pipeline(transaction=False)
            for k, at in expiries.items():
                pipe.pexpireat(k, max(1, math.ceil(at * 1000)))
            await pipe.execute()

        await self._run(go)

    async def ttl(self, keys: list[str]) -> dict[str, float | None]:
        async def go() -> dict[str, float | None]:
            pipe = self._client.pipeline(transaction=False)
            for k in keys:
                pipe.pttl(k)
            remaining = await pipe.execute()
            now = time.time()
            out: dict[str, float | None] = {}
            for k, ms in zip(keys, remaining, strict=True):
                if ms == -2:
                    continue  # missing
                out[k] = None if ms < 0 else now + ms / 1000.0
            return out

        result: dict[str, float | None] = await self._run(go)
        return result

    async def delete(self, keys: list[str]) -> None:
        async def go() -> None:
            pipe = self._client.pipeline(transaction=False)
            for k in keys:
                pipe.delete(k)
            await pipe.execute()

        await self._run(go)

    async def clear(self) -> None:
        async def go() -> None:
            await self._client.flushdb()

        await self._run(go)
