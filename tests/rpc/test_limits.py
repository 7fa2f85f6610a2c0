"""Hostile RPC clients against `rr serve`: huge length claims, frames that never end,
idle connections and deeply nested JSON."""

from __future__ import annotations

import socket
import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from rr.goridge.frame import CODEC_JSON, ERROR, HEADER_SIZE, decode_header, decode_options
from rr.goridge.rpc import RPCClient, RPCClientError
from tests.helpers import RRProcess, free_port, wait_for


class RPCServer(RRProcess):
    port = 0


def serve(tmp: Path, extra: str = "") -> RPCServer:
    port = free_port()
    rr = RPCServer(f"""
version: "3"
rpc:
  listen: tcp://127.0.0.1:{port}
{extra}
logs:
  level: debug
""", tmp)
    rr.port = port
    return rr


@pytest.fixture
def rr(tmp_path: Path) -> Iterator[RPCServer]:
    with serve(tmp_path, "  read_timeout: 2s") as proc:
        yield proc


def claim(length: int, seq: int = 7, method: str = "rpc.Version") -> bytes:
    """A request header and options announcing ``length`` payload bytes."""
    head = struct.pack("<BBI", 0x10 | 5, CODEC_JSON, length)
    return head + struct.pack("<IBB", zlib.crc32(head), 0, 0) + \
        struct.pack("<II", seq, len(method))


def read_reply(s: socket.socket) -> tuple[int, int, bytes]:
    def exactly(n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = s.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
        return buf

    h = decode_header(exactly(HEADER_SIZE))
    seq, name_len = decode_options(exactly(h.options_size), 2)
    return h.flags, seq, exactly(h.length)[name_len:]


def closed(s: socket.socket, timeout: float = 10.0) -> bool:
    s.settimeout(timeout)
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True


def rss_kib(rr: RPCServer) -> int:
    assert rr.proc is not None
    with open(f"/proc/{rr.proc.pid}/status") as f:
        return next(int(x.split()[1]) for x in f if x.startswith("VmRSS:"))


def test_a_4gib_length_claim_is_refused_before_its_payload(rr: RPCServer) -> None:
    before = rss_kib(rr)
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", rr.port), timeout=10) as s:
            s.sendall(claim(0xFFFF_FFFF))
            with pytest.raises(OSError):  # the server stops reading: sending soon fails
                for _ in range(200):
                    s.sendall(b"\0" * (1 << 20))
            flags, seq, text = read_reply(s)
            assert flags & ERROR and seq == 7
            assert b"exceeds rpc.max_frame_size (67108864 bytes)" in text
            assert closed(s)
    assert rss_kib(rr) - before < 10 * 1024
    # the server is fine for everyone else
    with RPCClient(f"tcp://127.0.0.1:{rr.port}") as c:
        assert c.call("rpc.Version", True)
    assert "Traceback" not in rr.output
    assert "frame refused" in rr.output


def test_a_frame_that_never_ends_is_closed_at_the_read_timeout(rr: RPCServer) -> None:
    with socket.create_connection(("127.0.0.1", rr.port), timeout=10) as s:
        s.sendall(claim(1000)[:7])  # half a header
        start = time.monotonic()
        assert closed(s, 15)
        assert 1.5 <= time.monotonic() - start < 12


def test_deeply_nested_json_gets_a_clear_error(rr: RPCServer) -> None:
    nested = b"[" * 200_000 + b"]" * 200_000
    with RPCClient(f"tcp://127.0.0.1:{rr.port}", timeout=30) as c:
        with pytest.raises(RPCClientError, match="^invalid JSON argument: nested too deeply$"):
            c.call_raw("rpc.Version", nested, CODEC_JSON)
        with pytest.raises(RPCClientError, match="nested too deeply"):
            c.call_raw("informer.List", b'{"a":' * 50_000 + b"1" + b"}" * 50_000)
        assert c.call("rpc.Version", True)  # same connection, still in sync
    assert "Traceback" not in rr.output and "RecursionError" not in rr.output


def test_idle_connections_stay_open_unless_an_idle_timeout_is_set(tmp_path: Path) -> None:
    with serve(tmp_path, "  idle_timeout: 1s") as rr, \
            socket.create_connection(("127.0.0.1", rr.port)) as s:
        start = time.monotonic()
        assert closed(s)
        assert 0.8 <= time.monotonic() - start < 8
    with serve(tmp_path) as rr, RPCClient(f"tcp://127.0.0.1:{rr.port}") as c:
        time.sleep(2.5)
        assert c.call("rpc.Version", True)


@pytest.mark.parametrize(("extra", "message"), [
    ("  max_frame_size: 0", "rpc.max_frame_size: expected a positive number of MB"),
    ("  read_timeout: 0s", "rpc.read_timeout: expected a positive duration"),
    ("  idle_timeout: -5s", "rpc.idle_timeout: expected a duration of 0 or more"),
])
def test_bad_limits_are_config_errors(tmp_path: Path, extra: str, message: str) -> None:
    rr = serve(tmp_path, extra)
    rr.start(wait=False)
    assert rr.wait(30) == 1
    wait_for(lambda: message in rr.output, 5, what=message)
