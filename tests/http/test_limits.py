"""Hostile and broken clients against `rr serve`: bad Host headers, HTTP/0.9, malformed
requests, slowloris, idle floods, a connection cap and clients that never read."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time

import pytest

from tests.helpers import wait_for
from tests.http.conftest import ServeFn, Server

BAD_HOSTS = [
    "h/admin#", "h/admin", "a b", "h#frag", "user@h", "h?q=1", "[::1", "[::1]x", "[::1]:8a",
    "[zz::1]", "::1", "h:1:2", "h]", "a" * 256, "h\\x", "h<x>",
]
GOOD_HOSTS = ["example.com", "example.com:8080", "127.0.0.1", "[::1]", "[::1]:8080",
              "[fe80::1%25eth0]:80", "xn--bcher-kva.example", "a" * 255, ""]


def raw(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    """Send ``data`` on a fresh connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except (TimeoutError, ConnectionResetError):
            pass
        return out


def get(port: int, host: bytes, path: str = "/headers") -> bytes:
    return raw(port, b"GET " + path.encode() + b" HTTP/1.1\r\nHost: " + host +
               b"\r\nConnection: close\r\n\r\n")


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.parametrize("host", BAD_HOSTS)
def test_invalid_host_is_refused_before_any_worker(serve: ServeFn, host: str) -> None:
    srv = serve()
    got = get(srv.port, host.encode())
    assert got.startswith(b"HTTP/1.0 400 Bad Request\r\n"), got
    assert b"invalid Host header" in got and b'"uri"' not in got


def test_non_ascii_host_is_refused(serve: ServeFn) -> None:
    srv = serve()
    got = get(srv.port, "bücher.example".encode())
    assert got.startswith(b"HTTP/1.0 400 "), got


def test_valid_hosts_reach_the_worker(serve: ServeFn) -> None:
    srv = serve()
    for host in GOOD_HOSTS:
        got = get(srv.port, host.encode(), "/public/x")
        assert got.startswith(b"HTTP/1.1 200 "), (host, got)
        body = json.loads(got.split(b"\r\n\r\n", 1)[1])
        assert body["ctx"]["uri"] == f"http://{host}/public/x"


def test_http09_request_gets_400_not_an_http09_status_line(serve: ServeFn) -> None:
    srv = serve()
    got = raw(srv.port, b"GET /\r\n\r\n")
    assert got.startswith(b"HTTP/1.0 400 Bad Request\r\n"), got
    assert b"HTTP/0.9" in got.split(b"\r\n\r\n", 1)[1]


def test_malformed_requests_log_one_line_without_traceback(serve: ServeFn) -> None:
    srv = serve()
    garbage = [b"GET / HTTP/1.1\r\nFoo bar\r\n\r\n", b"\x16\x03\x01\x00\xa5\x01\x00",
               b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
               b"GET / HTTP/1.1\r\nContent-Length: x\r\nHost: a\r\n\r\n",
               b"GET / HTTP/1.1\r\nHost: h/admin#\r\n\r\n", b"GET /\r\n\r\n"]
    for i in range(105):
        got = raw(srv.port, garbage[i % len(garbage)])
        assert got.startswith(b"HTTP/1.0 400 "), got
    status, _, _ = srv.request("GET", "/pid")
    assert status == 200
    out = srv.rr.output
    assert "Traceback" not in out
    rejected = [x for x in out.splitlines() if "bad request rejected" in x]
    # rate limited: the first line at once, repeats within 10 s only counted
    assert 1 <= len(rejected) <= 3, rejected
    assert "WARN" in rejected[0] or '"level":"warn"' in rejected[0]


def test_slowloris_is_closed_at_the_header_timeout_while_others_are_served(
        serve: ServeFn) -> None:
    srv = serve(http_extra="read_header_timeout: 3s\nidle_timeout: 60s")

    async def loris() -> float:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        start = time.monotonic()
        try:
            for byte in b"GET /pid HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200:
                writer.write(bytes([byte]))
                await writer.drain()
                try:
                    got = await asyncio.wait_for(reader.read(1024), 1.0)
                except TimeoutError:
                    continue
                assert got == b"" or got.startswith(b"HTTP/1.1 408"), got
                return time.monotonic() - start
        except ConnectionError:
            return time.monotonic() - start
        finally:
            writer.close()
        raise AssertionError("a slow client was never closed")

    async def attack() -> list[float]:
        tasks = [asyncio.ensure_future(loris()) for _ in range(100)]
        await asyncio.sleep(1.5)
        # a normal client is served in the middle of the attack
        status, _, _ = await asyncio.to_thread(srv.request, "GET", "/pid", timeout=10)
        assert status == 200
        return list(await asyncio.gather(*tasks))

    closed_after = asyncio.run(attack())
    assert len(closed_after) == 100
    assert all(2.5 <= t <= 15 for t in closed_after), sorted(closed_after)[::10]
    assert "request header read timed out" in srv.rr.output


def test_idle_connections_are_closed_after_the_idle_timeout(serve: ServeFn) -> None:
    srv = serve(http_extra="idle_timeout: 2s")
    socks = []
    for _ in range(2000):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
        socks.append(s)
    # one keep-alive connection that did answer a request is idle too
    socks[0].sendall(b"GET /pid HTTP/1.1\r\nHost: x\r\n\r\n")
    start = time.monotonic()
    closed = 0
    try:
        for s in socks:
            s.settimeout(max(1.0, 40 - (time.monotonic() - start)))
            data = b""
            while chunk := s.recv(65536):
                data += chunk
            closed += 1
    finally:
        for s in socks:
            s.close()
    assert closed == 2000
    assert time.monotonic() - start < 40
    status, _, _ = srv.request("GET", "/pid")
    assert status == 200


def test_connections_above_the_cap_get_503(serve: ServeFn) -> None:
    srv = serve(http_extra="max_connections: 20")
    held = [socket.create_connection(("127.0.0.1", srv.port), timeout=10) for _ in range(20)]
    try:
        time.sleep(0.5)
        got = raw(srv.port, b"GET /pid HTTP/1.1\r\nHost: x\r\n\r\n")
        assert got.startswith(b"HTTP/1.1 503 Service Unavailable\r\n"), got
    finally:
        for s in held:
            s.close()
    wait_for(lambda: srv.request("GET", "/pid")[0] == 200, 10, what="served again")
    assert "too many connections" in srv.rr.output


def _never_reading_clients(srv: Server, n: int, body_kib: int) -> list[socket.socket]:
    socks = []
    req = f"GET /big?n={body_kib * 102} HTTP/1.1\r\nHost: x\r\n\r\n".encode() * 50
    for _ in range(n):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", srv.port))
        s.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            s.send(req)
        socks.append(s)
    return socks


def test_a_client_that_never_reads_is_dropped_and_its_memory_returned(
        serve: ServeFn) -> None:
    srv = serve(http_extra="write_timeout: 2s")
    assert srv.rr.proc is not None
    pid = srv.rr.proc.pid
    srv.request("GET", "/big?n=100000")  # warm: the first big body, buffers and code
    time.sleep(1)
    base = rss_kib(pid)
    socks = _never_reading_clients(srv, 20, 1024)
    try:
        # each client holds a ~1 MiB body: rr grows, then drops them at the write timeout
        wait_for(lambda: srv.rr.output.count("client stopped reading") >= 1, 20,
                 what="the write timeout")
        status, _, body = srv.request("GET", "/big?n=10")
        assert status == 200 and len(body) == 100
        wait_for(lambda: rss_kib(pid) - base < 15 * 1024, 20,
                 what=f"rr RSS back near {base} KiB (now {rss_kib(pid)} KiB)")
        for s in socks:  # the server hung up: the rest of the stream ends early
            s.setblocking(True)
            s.settimeout(10)
            total = 0
            try:
                while chunk := s.recv(1 << 20):
                    total += len(chunk)
            except ConnectionResetError:
                pass
            assert total < 50 * 1024 * 1024
    finally:
        for s in socks:
            s.close()


def test_bad_limits_are_config_errors(serve: ServeFn) -> None:
    srv = serve(http_extra="read_header_timeout: 0s", wait=False)
    assert srv.rr.wait(timeout=30) == 1
    assert "http.read_header_timeout: expected a positive duration" in srv.rr.output
    srv = serve(http_extra="write_timeout: -5s", wait=False)
    assert srv.rr.wait(timeout=30) == 1
    assert "http.write_timeout: expected a duration of 0 or more" in srv.rr.output
