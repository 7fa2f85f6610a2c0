"""kv.* over a real RPC connection to `rr serve`: memory and redis storages, the error
texts PHP matches on, TTL format, and the startup rules of spec/kv.md §1."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rr.goridge.frame import CODEC_PROTO
from rr.goridge.rpc import RPCClient, RPCClientError
from rr.kv.proto.kv_pb2 import Item, Request, Response
from tests.helpers import RRProcess, free_port, run_cli

REDIS_DB = 5


@pytest.fixture(scope="module")
def rpc_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    rr = RRProcess(f"""
        version: "3"
        rpc:
          listen: tcp://127.0.0.1:{port}
        kv:
          local:
            driver: memory
            config: {{}}
          shared:
            driver: redis
            config:
              addrs: ["127.0.0.1:6379"]
              db: {REDIS_DB}
          broken: "not a map"
        """, tmp_path_factory.mktemp("kv"))
    with rr:
        yield f"tcp://127.0.0.1:{port}"


@pytest.fixture
def kv(rpc_address: str) -> Iterator[RPCClient]:
    with RPCClient(rpc_address) as c:
        yield c


def call(c: RPCClient, method: str, storage: str, *items: Item) -> Response:
    return c.call_proto(f"kv.{method}", Request(storage=storage, items=list(items)), Response)


def rfc3339(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


@pytest.fixture(params=["local", "shared"])
def storage(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def key(name: str) -> str:
    return f"rrtest:{uuid.uuid4().hex}:{name}"


def test_set_mget_has_delete(kv: RPCClient, storage: str) -> None:
    a, b, missing = key("a"), key("b"), key("missing")
    value = b'a:1:{s:1:"k";s:1:"\x00\xff";}'
    assert kv.call_raw("kv.Set", Request(storage=storage, items=[
        Item(key=a, value=value), Item(key=b, value=b"")]).SerializeToString(),
        CODEC_PROTO) == b""  # methods without a result answer zero bytes
    got = call(kv, "MGet", storage, Item(key=a), Item(key=missing), Item(key=b))
    assert {i.key: i.value for i in got.items} == {a: value, b: b""}
    has = call(kv, "Has", storage, Item(key=a), Item(key=missing))
    assert [i.key for i in has.items] == [a]
    call(kv, "Delete", storage, Item(key=a), Item(key=missing))
    assert call(kv, "Has", storage, Item(key=a), Item(key=b)).items[0].key == b
    call(kv, "Delete", storage, Item(key=b))


def test_ttl_format_and_expiry(kv: RPCClient, storage: str) -> None:
    k, forever = key("k"), key("forever")
    expiry = rfc3339(time.time() + 2)
    call(kv, "Set", storage, Item(key=k, value=b"v", timeout=expiry),
         Item(key=forever, value=b"v"))
    ttl = {i.key: i.timeout for i in call(kv, "TTL", storage, Item(key=k), Item(key=forever),
                                          Item(key=key("missing"))).items}
    assert ttl.keys() <= {k, forever} and k in ttl
    assert ttl.get(forever, "") == ""
    assert ttl[k] == expiry  # RFC 3339, whole seconds, UTC offset
    # an absolute expiry with a fraction and another offset is accepted too
    call(kv, "MExpire", storage, Item(key=forever, timeout="2099-06-01T02:00:00.5+02:00"))
    ttl = {i.key: i.timeout for i in call(kv, "TTL", storage, Item(key=forever)).items}
    assert ttl[forever] == "2099-06-01T00:00:00+00:00"
    assert {i.key: i.value for i in call(kv, "MGet", storage, Item(key=forever)).items} == \
        {forever: b"v"}
    deadline = datetime.fromisoformat(expiry).timestamp()
    while time.time() < deadline + 0.1:
        time.sleep(0.1)
    assert call(kv, "MGet", storage, Item(key=k)).items == []
    assert call(kv, "Has", storage, Item(key=k)).items == []
    call(kv, "Delete", storage, Item(key=forever))


def test_clear_memory(kv: RPCClient) -> None:
    k = key("k")
    call(kv, "Set", "local", Item(key=k, value=b"v"))
    kv.call_proto("kv.Clear", Request(storage="local"))
    assert call(kv, "Has", "local", Item(key=k)).items == []


@pytest.mark.parametrize(("method", "request_", "error"), [
    ("Has", Request(storage="", items=[Item(key="a")]), "no storage provided"),
    ("MGet", Request(storage="nope", items=[Item(key="a")]), "no such storage: nope"),
    ("Clear", Request(storage="broken"), "no such storage: broken"),
    ("Has", Request(storage="local"), "should provide at least 1 key"),
    ("MGet", Request(storage="shared"), "should provide at least 1 key"),
    ("TTL", Request(storage="local"), "should provide at least 1 key"),
    ("Delete", Request(storage="shared"), "should provide at least 1 key"),
    ("Set", Request(storage="local"), "should provide at least 1 key"),
    ("Has", Request(storage="local", items=[Item(key="  ")]), "key can't be empty string"),
    ("MGet", Request(storage="shared", items=[Item(key="")]), "key can't be empty string"),
    ("MExpire", Request(storage="local", items=[Item(key="a")]),
     "should set timeout and at least one key"),
    ("MExpire", Request(storage="local"), "should set timeout and at least one key"),
    ("Set", Request(storage="local", items=[Item(key="a", value=b"v", timeout="tomorrow")]),
     "RFC 3339"),
    ("Set", Request(storage="shared", items=[Item(key="a", value=b"v",
                                                  timeout="2030-01-01T00:00:00")]),
     "RFC 3339"),
])
def test_errors(kv: RPCClient, method: str, request_: Request, error: str) -> None:
    with pytest.raises(RPCClientError) as e:
        kv.call_proto(f"kv.{method}", request_)
    assert error in str(e.value)
    # the connection survives
    assert call(kv, "Has", "local", Item(key="x")).items == []


def test_malformed_input(kv: RPCClient) -> None:
    with pytest.raises(RPCClientError, match="cannot parse"):
        kv.call_raw("kv.Set", b"\x0a\xff\xff\xff", CODEC_PROTO)
    with pytest.raises(RPCClientError, match="invalid JSON"):
        kv.call_raw("kv.Has", b"{oops", 0x08)
    # the JSON codec maps onto the same messages (bytes as base64)
    reply = kv.call("kv.Has", {"storage": "local", "items": [{"key": "x"}]})
    assert reply == {}


@pytest.mark.parametrize(("kv_yaml", "error"), [
    ("  s1:\n    config: {}\n", "could not find mandatory driver field in the s1 storage"),
    ("  s1:\n    driver: boltdb\n", "no such constructor was registered: boltdb"),
    # memcached, unlike redis, does not fall back to defaults without a config
    ("  s1:\n    driver: memcached\n", "config not found by provided key: kv.s1.config"),
])
def test_fatal_startup_rules(tmp_path: Path, kv_yaml: str, error: str) -> None:
    cfg = tmp_path / ".rr.yaml"
    cfg.write_text(f'version: "3"\nrpc:\n  listen: tcp://127.0.0.1:{free_port()}\nkv:\n'
                   + kv_yaml)
    res = run_cli("serve", "-c", str(cfg), cwd=tmp_path, timeout=30)
    assert res.returncode == 1
    assert error in res.stdout + res.stderr


def test_unreachable_redis_fails_startup(tmp_path: Path) -> None:
    cfg = tmp_path / ".rr.yaml"
    cfg.write_text(f'version: "3"\nkv:\n  r:\n    driver: redis\n    config:\n'
                   f'      addrs: ["127.0.0.1:{free_port()}"]\n      dial_timeout: 1s\n'
                   f'      max_retries: -1\n')
    res = run_cli("serve", "-c", str(cfg), cwd=tmp_path, timeout=60)
    assert res.returncode == 1
    assert "kv storage r" in res.stdout + res.stderr


def test_global_section_and_skipped_entries(tmp_path: Path) -> None:
    """Storage `redis` without `config` takes the top-level `redis:` section; a
    non-string driver is skipped, not fatal."""
    port = free_port()
    rr = RRProcess(f"""
        version: "3"
        rpc:
          listen: tcp://127.0.0.1:{port}
        redis:
          addrs: ["127.0.0.1:6379"]
          db: {REDIS_DB}
        kv:
          redis:
            driver: redis
          odd:
            driver: [memory]
        """, tmp_path)
    with rr, RPCClient(f"tcp://127.0.0.1:{port}") as c:
        k = key("g")
        call(c, "Set", "redis", Item(key=k, value=b"v"))
        import redis

        assert redis.Redis(db=REDIS_DB).get(k) == b"v"
        call(c, "Delete", "redis", Item(key=k))
        with pytest.raises(RPCClientError, match="no such storage: odd"):
            call(c, "Has", "odd", Item(key="a"))


def test_no_kv_section_means_no_methods(tmp_path: Path) -> None:
    port = free_port()
    rr = RRProcess(f'version: "3"\nrpc:\n  listen: tcp://127.0.0.1:{port}\n', tmp_path)
    with rr, RPCClient(f"tcp://127.0.0.1:{port}") as c, \
            pytest.raises(RPCClientError, match="kv.Clear"):
        c.call_proto("kv.Clear", Request(storage="local"))
