"""The memcached storage against two real memcached servers (scripts/services/memcached.sh),
directly and through `rr serve`'s kv.* RPC."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
import uuid
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiomcache
import pytest

from rr.config import Section
from rr.errors import ConfigError, RRError
from rr.goridge.rpc import RPCClient, RPCClientError
from rr.kv.memcached import MALFORMED, NO_TTL, MemcachedStorage
from rr.kv.proto.kv_pb2 import Item, Request, Response
from rr.kv.storage import Entry
from tests.drivers.services import ensure_service
from tests.helpers import RRProcess, free_port, wait_for

PORT = int(os.environ.get("MEMCACHED_PORT", "11211"))
SERVERS = [f"127.0.0.1:{PORT}", f"127.0.0.1:{PORT + 1}"]


@pytest.fixture(scope="module")
def memcached() -> list[str]:
    ensure_service("memcached.sh", PORT, "MEMCACHED_PORT")
    ensure_service("memcached.sh", PORT + 1, "MEMCACHED_PORT")
    return SERVERS


@pytest.fixture
async def store(memcached: list[str]) -> AsyncIterator[MemcachedStorage]:
    s = MemcachedStorage("t", Section({"addr": memcached}, "kv.t.config"))
    await s.start()
    yield s
    await s.stop()


def key(name: str) -> str:
    return f"rrtest:{uuid.uuid4().hex}:{name}"


async def raw_get(addr: str, k: str) -> bytes | None:
    host, port = addr.split(":")
    client = aiomcache.Client(host, int(port))
    try:
        return await client.get(k.encode())
    finally:
        await client.close()


async def test_values_round_trip_and_are_spread_by_crc32(store: MemcachedStorage) -> None:
    keys = [key(str(i)) for i in range(20)]
    await store.set([Entry(k, f"v{k}".encode() + b"\x00\xff", None) for k in keys])
    missing = key("missing")
    got = await store.mget([*keys, missing])
    assert got == {k: f"v{k}".encode() + b"\x00\xff" for k in keys}
    assert await store.has([missing, keys[0]]) == [keys[0]]
    used = set()
    for k in keys:
        home = zlib.crc32(k.encode()) % 2
        used.add(home)
        assert await raw_get(SERVERS[home], k) is not None, "not on its crc32 server"
        assert await raw_get(SERVERS[1 - home], k) is None, "on the other server"
    assert used == {0, 1}
    await store.delete([*keys, missing])       # a missing key is no error
    assert await store.has(keys) == []


async def test_expiry_is_absolute_and_touch_extends(store: MemcachedStorage) -> None:
    short, gone = key("short"), key("gone")
    await store.set([Entry(short, b"v", time.time() + 1.5),
                     Entry(gone, b"v", time.time() - 10)])
    assert await store.mget([gone]) == {}      # a past time expires at once
    await store.mexpire({short: time.time() + 60})
    await asyncio.sleep(2.2)
    assert await store.mget([short]) == {short: b"v"}
    with pytest.raises(RRError, match="cache miss"):
        await store.mexpire({key("never-set"): time.time() + 60})
    await store.delete([short])


async def test_ttl_and_malformed_keys_fail(store: MemcachedStorage) -> None:
    with pytest.raises(RRError) as e:
        await store.ttl([key("k")])
    assert str(e.value) == NO_TTL
    for bad in ("has space", "x" * 251, "tab\tkey", "del\x7f"):
        with pytest.raises(RRError) as e:
            await store.set([Entry(bad, b"v", None)])
        assert str(e.value) == MALFORMED


async def test_clear_flushes_every_server(store: MemcachedStorage) -> None:
    keys = [key(str(i)) for i in range(10)]
    await store.set([Entry(k, b"v", None) for k in keys])
    await store.clear()
    assert await store.mget(keys) == {}


@pytest.fixture
def unix_memcached(tmp_path: Path) -> Iterator[str]:
    """A memcached of this test's own, listening on a unix socket only."""
    binary = shutil.which("memcached")
    if binary is None:
        pytest.skip("memcached is not installed")
    path = f"/tmp/rr-mc-{uuid.uuid4().hex[:8]}.sock"
    as_root = ["-u", "root"] if os.geteuid() == 0 else []
    proc = subprocess.Popen([binary, "-s", path, "-m", "16", *as_root],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: os.path.exists(path), 10, 0.05, "the memcached socket")
        yield path
    finally:
        proc.terminate()
        proc.wait(10)
        if os.path.exists(path):
            os.unlink(path)


async def test_unix_socket_servers(unix_memcached: str) -> None:
    """A path (gomemcache's rule: it contains "/") and unix:// + path reach the same
    server; a dead socket fails start like a dead TCP server."""
    for addr in (unix_memcached, f"unix://{unix_memcached}"):
        s = MemcachedStorage("u", Section({"addr": [addr]}, "kv.u.config"))
        await s.start()
        try:
            k = key(addr)
            await s.set([Entry(k, b"over a socket", None)])
            assert await s.mget([k]) == {k: b"over a socket"}
            await s.delete([k])
            assert await s.has([k]) == []
        finally:
            await s.stop()
    gone = MemcachedStorage("u", Section({"addr": unix_memcached + ".gone"}, "kv.u.config"))
    with pytest.raises(RRError, match="memcached"):
        await gone.start()
    await gone.stop()


def test_bad_address_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"kv\.b\.config\.addr: expected host:port"):
        MemcachedStorage("b", Section({"addr": ["127.0.0.1:port"]}, "kv.b.config"))


async def test_unreachable_server_fails_start() -> None:
    s = MemcachedStorage("dead", Section({"addr": f"127.0.0.1:{free_port()}"}, "kv"))
    with pytest.raises(RRError, match="memcached"):
        await s.start()
    await s.stop()


def test_kv_rpc_through_rr(memcached: list[str], tmp_path: Path) -> None:
    port = free_port()
    config = (f'version: "3"\nrpc:\n  listen: tcp://127.0.0.1:{port}\nkv:\n  mc:\n'
              f'    driver: memcached\n    config:\n      addr: {memcached!r}\n')
    with RRProcess(config, tmp_path), RPCClient(f"tcp://127.0.0.1:{port}") as c:
        k = key("rpc")

        def call(method: str, *items: Item) -> Response:
            return c.call_proto(f"kv.{method}", Request(storage="mc", items=list(items)),
                                Response)

        call("Set", Item(key=k, value=b"hello"))
        assert [(i.key, i.value) for i in call("MGet", Item(key=k)).items] == \
            [(k, b"hello")]
        assert [i.key for i in call("Has", Item(key=k), Item(key=k + "x")).items] == [k]
        with pytest.raises(RPCClientError, match="memcached_plugin_ttl"):
            call("TTL", Item(key=k))
        call("Delete", Item(key=k))
        assert list(call("Has", Item(key=k)).items) == []
