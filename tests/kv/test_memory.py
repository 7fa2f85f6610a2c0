"""The memory storage: exact expiry, and expired keys do not stay in memory."""

from __future__ import annotations

import asyncio
import time

import pytest

from rr.kv.memory import MemoryStorage
from rr.kv.storage import Entry, format_timeout, parse_timeout


@pytest.fixture
async def store() -> MemoryStorage:
    s = MemoryStorage("t")
    await s.start()
    yield s  # type: ignore[misc]
    await s.stop()


async def test_set_get_has_delete(store: MemoryStorage) -> None:
    await store.set([Entry("a", b"\x00\xffbytes", None), Entry("b", b"", None)])
    assert await store.mget(["a", "b", "c"]) == {"a": b"\x00\xffbytes", "b": b""}
    assert await store.has(["a", "c", "b"]) == ["a", "b"]
    await store.delete(["a", "missing"])
    assert await store.has(["a", "b"]) == ["b"]
    await store.clear()
    assert len(store) == 0


async def test_key_expires_at_the_instant_given(store: MemoryStorage) -> None:
    # a sub-second TTL: RoadRunner would floor it to 0 s and keep the key forever
    expires_at = time.time() + 0.4
    await store.set([Entry("k", b"v", expires_at)])
    assert await store.ttl(["k"]) == {"k": expires_at}
    assert await store.mget(["k"]) == {"k": b"v"}
    while time.time() < expires_at:
        await asyncio.sleep(0.05)
    assert await store.mget(["k"]) == {}
    assert await store.has(["k"]) == []
    assert await store.ttl(["k"]) == {}


async def test_expired_keys_are_purged_without_being_read(store: MemoryStorage) -> None:
    expires_at = time.time() + 0.3
    await store.set([Entry(f"k{i}", b"x" * 100, expires_at) for i in range(500)])
    await store.set([Entry("forever", b"v", None)])
    assert len(store) == 501

    async def purged() -> None:
        while len(store) != 1:
            await asyncio.sleep(0.05)

    await asyncio.wait_for(purged(), 10)
    assert store.pending_expiries() == 0
    assert await store.mget(["forever"]) == {"forever": b"v"}


async def test_past_expiry_stores_nothing(store: MemoryStorage) -> None:
    await store.set([Entry("k", b"old", None)])
    await store.set([Entry("k", b"new", time.time() - 1)])
    assert await store.mget(["k"]) == {}


async def test_replacing_a_key_drops_its_ttl(store: MemoryStorage) -> None:
    await store.set([Entry("k", b"1", time.time() + 0.2)])
    await store.set([Entry("k", b"2", None)])
    await asyncio.sleep(0.4)
    assert await store.mget(["k"]) == {"k": b"2"}
    assert await store.ttl(["k"]) == {"k": None}


async def test_mexpire_keeps_the_value(store: MemoryStorage) -> None:
    await store.set([Entry("k", b"keep", None)])
    at = time.time() + 100
    await store.mexpire({"k": at, "missing": at})
    assert await store.mget(["k", "missing"]) == {"k": b"keep"}
    assert await store.ttl(["k"]) == {"k": at}


async def test_rewriting_keys_does_not_grow_the_schedule(store: MemoryStorage) -> None:
    for _ in range(50):
        await store.set([Entry(f"k{i}", b"v", time.time() + 3600) for i in range(20)])
    assert len(store) == 20
    assert store.pending_expiries() <= 2 * 20 + 64 + 20


def test_rfc3339_parsing_and_formatting() -> None:
    assert parse_timeout("2030-01-01T00:00:00+00:00") == 1893456000.0
    assert parse_timeout("2030-01-01T00:00:00Z") == 1893456000.0
    assert parse_timeout("2030-01-01T02:00:00.75+02:00") == 1893456000.75
    assert format_timeout(1893456000.75) == "2030-01-01T00:00:00+00:00"
    for bad in ("2030-01-01", "2030-01-01T00:00:00", "tomorrow", "2030-13-01T00:00:00Z"):
        with pytest.raises(Exception, match="RFC 3339"):
            parse_timeout(bad)
