"""The redis storage against the real Redis on 127.0.0.1:6379 (dedicated dbs, unique keys)."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
import redis.asyncio as aioredis

from rr.config import Section
from rr.errors import RRError
from rr.kv.redis import RedisStorage
from rr.kv.storage import Entry

DB = 5
CLEAR_DB = 14  # Clear is FLUSHDB: only ever on a db no other test writes to


@pytest.fixture
async def store() -> RedisStorage:
    s = RedisStorage("t", Section({"addrs": ["127.0.0.1:6379"], "db": DB}, "kv.t.config"))
    await s.start()
    yield s  # type: ignore[misc]
    await s.stop()


def key(name: str) -> str:
    return f"rrtest:{uuid.uuid4().hex}:{name}"


async def test_values_are_stored_as_given(store: RedisStorage) -> None:
    a, b, missing = key("a"), key("b"), key("missing")
    await store.set([Entry(a, b'\x00\xff s:5:"hello";', None), Entry(b, b"", None)])
    assert await store.mget([a, b, missing]) == {a: b'\x00\xff s:5:"hello";', b: b""}
    assert await store.has([a, missing, b]) == [a, b]
    # the bytes really are in db 5, untransformed
    raw = aioredis.Redis(db=DB)
    try:
        assert await raw.get(a) == b'\x00\xff s:5:"hello";'
    finally:
        await raw.aclose()
    await store.delete([a, b, missing])
    assert await store.has([a, b]) == []


async def test_ttl_and_expiry(store: RedisStorage) -> None:
    k, forever = key("k"), key("forever")
    expires_at = time.time() + 0.5
    await store.set([Entry(k, b"v", expires_at), Entry(forever, b"v", None)])
    ttl = await store.ttl([k, forever, key("missing")])
    assert set(ttl) == {k, forever}
    assert ttl[forever] is None
    assert ttl[k] is not None and abs(ttl[k] - expires_at) < 0.2
    while time.time() < expires_at + 0.05:
        await asyncio.sleep(0.05)
    assert await store.mget([k]) == {}
    await store.mexpire({forever: time.time() + 100})
    ttl = await store.ttl([forever])
    assert ttl[forever] is not None
    assert await store.mget([forever]) == {forever: b"v"}
    await store.delete([forever])


async def test_past_expiry_removes_the_key(store: RedisStorage) -> None:
    k = key("k")
    await store.set([Entry(k, b"old", None)])
    await store.set([Entry(k, b"new", time.time() - 5)])
    assert await store.mget([k]) == {}


async def test_clear_flushes_the_whole_db() -> None:
    s = RedisStorage("c", Section({"addrs": "127.0.0.1:6379", "db": CLEAR_DB}, "kv.c.config"))
    await s.start()
    try:
        k = key("k")
        other = aioredis.Redis(db=CLEAR_DB)
        await other.set(k + ":foreign", b"not written through rr")
        await s.set([Entry(k, b"v", None)])
        await s.clear()
        assert await s.has([k]) == []
        assert await other.get(k + ":foreign") is None  # the documented danger
        await other.aclose()
    finally:
        await s.stop()


async def test_unreachable_redis_fails_start() -> None:
    from tests.helpers import free_port

    s = RedisStorage("x", Section({"addrs": [f"127.0.0.1:{free_port()}"],
                                   "dial_timeout": "1s", "max_retries": -1}, "kv.x.config"))
    with pytest.raises(RRError, match="kv storage x"):
        await s.start()
    await s.stop()
