"""lock.* from real PHP (RR\\Lock\\Lock, protobuf codec) against `rr serve`: two PHP
processes contending, TTL expiry, wait timeouts, read locks, ForceRelease, UpdateTTL and
bad input; plus the exact bytes on the wire and the JSON codec from a Python client."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rr.goridge.frame import CODEC_JSON, CODEC_PROTO
from rr.goridge.rpc import RPCClient, RPCClientError, encode_request
from rr.lock.proto.lock_pb2 import Request, Response
from tests.helpers import PHP_FIXTURES, RRProcess, free_port


class PHPLock:
    """One php-cli process running tests/php/lock_client.php, one command at a time."""

    def __init__(self, address: str) -> None:
        self.proc = subprocess.Popen(
            ["php", str(PHP_FIXTURES / "lock_client.php"), address],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.ready = json.loads(self._line())

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"php exited with {self.proc.wait(10)}")
        return line

    def send(self, op: str, **args: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.proc.stdin.flush()

    def answer(self) -> dict[str, Any]:
        return dict(json.loads(self._line()))

    def __call__(self, op: str, **args: Any) -> Any:
        self.send(op, **args)
        reply = self.answer()
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return reply["result"]

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(10)


@pytest.fixture(scope="module")
def address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    with RRProcess(f"""
        version: "3"
        rpc:
          listen: tcp://127.0.0.1:{port}
        """, tmp_path_factory.mktemp("lock")):
        yield f"tcp://127.0.0.1:{port}"


@pytest.fixture
def php(address: str) -> Iterator[PHPLock]:
    p = PHPLock(address)
    yield p
    p.close()


@pytest.fixture
def php2(address: str) -> Iterator[PHPLock]:
    p = PHPLock(address)
    yield p
    p.close()


@pytest.fixture
def res() -> str:
    return f"pdf:{uuid.uuid4().hex}"


def test_exclusive_lock_blocks_second_process_until_release(
        php: PHPLock, php2: PHPLock, res: str) -> None:
    owner = php("lock", resource=res, ttl=0)
    assert isinstance(owner, str) and len(owner) == 36 and owner[14] == "4"  # UUID v4
    php2.send("lock", resource=res, id="second", wait=10)
    time.sleep(0.5)
    assert php("exists", resource=res, id=owner) is True
    assert php("release", resource=res, id=owner) is True
    reply = php2.answer()
    assert reply["result"] == "second"
    assert 400 <= reply["ms"] < 9000  # woken by the release, not by its deadline
    assert php("exists", resource=res) is True
    assert php("exists", resource=res, id=owner) is False


def test_wait_timeout_returns_false(php: PHPLock, php2: PHPLock, res: str) -> None:
    assert php("lock", resource=res, id="a") == "a"
    php2.send("lock", resource=res, id="b", wait=0.3)
    reply = php2.answer()
    assert reply["result"] is False and reply["ms"] >= 290
    assert php2("lock", resource=res, id="b") is False  # wait 0 = 1 ms
    assert php("lock", resource=res, id="a", wait=0.05) is False  # not re-entrant


def test_ttl_expiry_frees_the_resource_for_the_waiter(
        php: PHPLock, php2: PHPLock, res: str) -> None:
    assert php("lock", resource=res, id="short", ttl=1.0) == "short"
    php2.send("lock", resource=res, id="next", wait=10)
    reply = php2.answer()
    assert reply["result"] == "next" and 300 <= reply["ms"] < 9000
    assert php("exists", resource=res, id="short") is False
    assert php("release", resource=res, id="short") is False


def test_read_locks_shared_writer_waits_for_all(
        php: PHPLock, php2: PHPLock, res: str) -> None:
    assert php("lockRead", resource=res, id="r1") == "r1"
    assert php2("lockRead", resource=res, id="r2") == "r2"
    assert php("lock", resource=res, id="w", wait=0.05) is False
    php2.send("lock", resource=res, id="w", wait=10)
    time.sleep(0.2)
    assert php("release", resource=res, id="r1") is True
    time.sleep(0.2)
    assert php("exists", resource=res, id="w") is False  # r2 still reads
    assert php("release", resource=res, id="r2") is True
    assert php2.answer()["result"] == "w"
    assert php("lockRead", resource=res, id="r3", wait=0.05) is False


def test_sole_reader_upgrades(php: PHPLock, res: str) -> None:
    assert php("lockRead", resource=res, id="me") == "me"
    assert php("lock", resource=res, id="me") == "me"
    assert php("lockRead", resource=res, id="other", wait=0.05) is False
    assert php("release", resource=res, id="me") is True
    assert php("exists", resource=res) is False


def test_force_release_wakes_waiter(php: PHPLock, php2: PHPLock, res: str) -> None:
    assert php("forceRelease", resource=res) is False  # never used
    assert php("lock", resource=res, id="stuck") == "stuck"
    php2.send("lock", resource=res, id="rescued", wait=10)
    time.sleep(0.2)
    assert php("forceRelease", resource=res) is True
    assert php2.answer()["result"] == "rescued"
    assert php("release", resource=res, id="stuck") is False


def test_update_ttl_replaces_expiry(php: PHPLock, res: str) -> None:
    assert php("lock", resource=res, id="a", ttl=1.0) == "a"
    assert php("updateTTL", resource=res, id="a", ttl=4) is True
    time.sleep(1.6)
    assert php("exists", resource=res, id="a") is True  # the 1 s expiry is gone
    assert php("updateTTL", resource=res, id="a", ttl=0.2) is True  # shorter works too
    time.sleep(0.8)
    assert php("exists", resource=res, id="a") is False
    assert php("updateTTL", resource=res, id="a", ttl=5) is False


def test_bad_input(php: PHPLock, res: str) -> None:
    assert php("release", resource=res, id="nobody") is False
    assert php("exists", resource=res, id="nobody") is False
    assert php("updateTTL", resource=res, id="nobody", ttl=1) is False
    assert php("lock", resource=res, id="a") == "a"
    assert php("release", resource=res, id="not-a") is False
    assert php("updateTTL", resource=res, id="not-a", ttl=1) is False
    for op in ("lock", "lockRead", "release", "exists", "updateTTL"):
        with pytest.raises(RuntimeError, match="empty ID is not allowed"):
            php(op, resource=res, id="", ttl=1)
    # negative times count as 0: no expiry, the 1 ms wait
    other = res + ":neg"
    assert php("lock", resource=other, id="n", ttl=-5, wait=-5) == "n"
    time.sleep(0.1)
    assert php("exists", resource=other, id="n") is True
    assert php("updateTTL", resource=other, id="n", ttl=-1) is True
    assert php("lock", resource=other, id="m", wait=-1) is False
    assert php("exists", resource=other, id="n") is True


def test_php_sends_the_sdk_bytes(address: str, res: str) -> None:
    """The fixture's request bytes decode to what the SDK sends: ttl and wait always set
    on Lock (0 included), absent on Release."""
    req = Request(resource=res, id="x", ttl=0, wait=0)
    assert req.HasField("ttl") and req.SerializeToString().endswith(b"\x18\x00\x20\x00")
    script = (
        f"require '{PHP_FIXTURES.parent.parent / 'php' / 'autoload.php'}';"
        "echo bin2hex((new RR\\Lock\\DTO\\Request('pdf:create', '3f2a', 10000000, 500000))"
        "->encode()), ' ', bin2hex((new RR\\Lock\\DTO\\Request('r', 'i', 0, 0))->encode()), ' ',"
        "bin2hex((new RR\\Lock\\DTO\\Request('r', 'i'))->encode());")
    out = subprocess.run(["php", "-r", script], capture_output=True, text=True, timeout=30)
    spec, zeros, bare = out.stdout.split()
    assert spec == "0a0a7064663a637265617465120433663261" "1880ade204" "20a0c21e"  # spec §2
    assert zeros == "0a0172120169" + "18002000"
    assert bare == "0a0172120169"


def test_python_client_codecs(address: str, res: str) -> None:
    with RPCClient(address) as c:
        raw = Request(resource=res, id="p", ttl=10_000_000, wait=500_000).SerializeToString()
        assert c.call_raw("lock.Lock", raw, CODEC_PROTO) == b"\x08\x01"
        assert c.call_raw("lock.Lock", raw, CODEC_PROTO) == b""  # ok:false is zero bytes
        assert c.call_raw("lock.Exists", json.dumps({"resource": res, "id": "*"}).encode(),
                          CODEC_JSON) == b'{"ok": true}'
        assert c.call_raw("lock.Release", b'{"resource": "%s", "id": "p"}' % res.encode(),
                          CODEC_JSON) == b'{"ok": true}'
        with pytest.raises(RPCClientError, match="empty ID is not allowed"):
            c.call_proto("lock.Lock", Request(resource=res), Response)
        # ForceRelease needs no id
        assert c.call_proto("lock.ForceRelease", Request(resource=res), Response).ok
        with pytest.raises(RPCClientError, match="cannot parse"):
            c.call_raw("lock.Lock", b"\x0a\xff", CODEC_PROTO)
        assert c.call_proto("lock.Exists", Request(resource=res, id="*"), Response).ok is False


def test_killed_waiter_gives_up_and_never_takes_the_lock(
        address: str, php: PHPLock, res: str) -> None:
    """A PHP process killed while it waits (exec_ttl, OOM, a crash) closes its RPC
    connection: its wait ends there, so the lock is never handed to a process that cannot
    release it (RoadRunner would grant it and keep it until the TTL — forever with the
    SDK's default ttl 0)."""
    assert php("lock", resource=res, id="holder") == "holder"
    victim = PHPLock(address)
    victim.send("lock", resource=res, id="victim", wait=60)
    time.sleep(0.3)
    victim.proc.kill()
    victim.proc.wait(10)
    time.sleep(0.3)
    assert php("release", resource=res, id="holder") is True
    assert php("exists", resource=res) is False
    assert php("lock", resource=res, id="next", wait=0.05) == "next"


def test_half_closed_client_gets_its_answer(address: str, res: str) -> None:
    """A client that shuts down its sending side still gets the answers it asked for;
    a lock it would have to wait for is answered false at once."""
    with RPCClient(address) as c:
        assert c.call_proto("lock.Lock", Request(resource=res, id="holder"), Response).ok
    half = RPCClient(address)
    half.sock.sendall(encode_request(7, "lock.Lock", Request(
        resource=res, id="half", wait=30_000_000).SerializeToString(), CODEC_PROTO)
        + encode_request(8, "lock.Exists", Request(
            resource=res, id="holder").SerializeToString(), CODEC_PROTO))
    half.sock.shutdown(socket.SHUT_WR)
    half.sock.settimeout(10)
    data = b""
    while True:
        chunk = half.sock.recv(65536)
        if not chunk:
            break
        data += chunk
    half.close()
    # two reply frames: ok:false (zero bytes after the method) and ok:true
    assert data.count(b"lock.Lock") == 1 and data.count(b"lock.Exists") == 1
    assert b"lock.Exists\x08\x01" in data
    assert b"lock.Lock\x08\x01" not in data


def test_sigterm_answers_waiters_and_exits(tmp_path: Path) -> None:
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    rr = RRProcess(f"""
        version: "3"
        rpc:
          listen: {address}
        """, tmp_path).start()
    try:
        holder = PHPLock(address)
        waiter = PHPLock(address)
        assert holder("lock", resource="r", id="a") == "a"
        waiter.send("lock", resource="r", id="b", wait=60)
        time.sleep(0.3)
        t0 = time.monotonic()
        assert rr.stop(30) == 0
        assert time.monotonic() - t0 < 20
        reply = waiter.answer()  # false on shutdown, or a closed connection
        assert reply.get("result") is False or "error" in reply
        holder.close()
        waiter.close()
    finally:
        rr.kill()
