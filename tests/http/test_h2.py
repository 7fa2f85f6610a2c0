"""HTTP/2 on the http plugin: curl (ALPN, prior knowledge, Upgrade), an h2 client for
multiplexing, resets, limits and hostile input, against rr and real php-cli workers."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import pytest

from tests.helpers import free_port, wait_for
from tests.http import test_middleware
from tests.http.conftest import ServeFn
from tests.http.test_middleware import _self_signed

H2C = "http2:\n  h2c: true\n"
public = test_middleware.public  # the static files fixture
pytestmark = pytest.mark.skipif(subprocess.run(["which", "curl"], capture_output=True)
                                .returncode != 0, reason="curl is not installed")


def curl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["curl", "-sS", "--max-time", "60", *args],
                          capture_output=True, text=True, timeout=90)


class Client:
    """A small blocking HTTP/2 client on the h2 library (prior knowledge)."""

    def __init__(self, port: int, timeout: float = 60.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.flush()
        self.responses: dict[int, dict[str, Any]] = {}
        self.events: list[Any] = []

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def request(self, path: str, method: str = "GET", body: bytes | None = None,
                headers: list[tuple[str, str]] | None = None) -> int:
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":path", path), (":scheme", "http"),
                (":authority", "example.test"), *(headers or [])]
        self.responses[sid] = {"headers": [], "body": b"", "done": False, "reset": None}
        self.conn.send_headers(sid, hdrs, end_stream=body is None)
        if body is not None:
            self.send_body(sid, body)
        self.flush()
        return sid

    def send_body(self, sid: int, body: bytes) -> None:
        """Send as the windows allow; stop when the server answered and reset the stream."""
        with contextlib.suppress(h2.exceptions.StreamClosedError):
            self._send_body(sid, body)

    def _send_body(self, sid: int, body: bytes) -> None:
        view = memoryview(body)
        while view:
            window = min(self.conn.local_flow_control_window(sid),
                         self.conn.max_outbound_frame_size)
            if window <= 0:
                self.flush()
                self.pump()
                continue
            self.conn.send_data(sid, bytes(view[:window]))
            view = view[window:]
        self.conn.end_stream(sid)

    def pump(self) -> bool:
        data = self.sock.recv(65536)
        if not data:
            return False
        for ev in self.conn.receive_data(data):
            self.events.append(ev)
            r = self.responses.get(getattr(ev, "stream_id", 0))
            if isinstance(ev, h2.events.ResponseReceived) and r is not None:
                r["headers"] += ev.headers
            elif isinstance(ev, h2.events.InformationalResponseReceived) and r is not None:
                r.setdefault("interim", []).append(ev.headers)
            elif isinstance(ev, h2.events.DataReceived) and r is not None:
                r["body"] += ev.data
                self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded) and r is not None:
                r["done"] = True
            elif isinstance(ev, h2.events.StreamReset) and r is not None:
                r["reset"] = ev.error_code
                r["done"] = True
        self.flush()
        return True

    def wait(self, *sids: int) -> list[dict[str, Any]]:
        while not all(self.responses[s]["done"] for s in sids):
            assert self.pump(), "connection closed"
        return [self.responses[s] for s in sids]

    def close(self) -> None:
        self.sock.close()


def status(r: dict[str, Any]) -> int:
    return int(dict(r["headers"])[":status"])


def test_curl_prior_knowledge_context(serve: ServeFn) -> None:
    srv = serve(H2C)
    out = curl("--http2-prior-knowledge", "-H", "X-Multi: a", "-H", "X-Multi: b",
               "-H", "Cookie: k=v", f"http://127.0.0.1:{srv.port}/ctx?x=1")
    assert out.returncode == 0, out.stderr
    ctx = json.loads(out.stdout)["ctx"]
    assert ctx["protocol"] == "HTTP/2.0"
    assert ctx["uri"] == f"http://127.0.0.1:{srv.port}/ctx?x=1"
    assert "Host" not in ctx["headers"] and ctx["headers"]["X-Multi"] == ["a", "b"]
    assert ctx["cookies"] == {"k": "v"} and ctx["rawQuery"] == "x=1"


def test_curl_upgrade_and_http1_on_one_port(serve: ServeFn) -> None:
    srv = serve(H2C)
    out = curl("-v", "--http2", f"http://127.0.0.1:{srv.port}/ctx")
    assert out.returncode == 0, out.stderr
    assert "101 Switching Protocols" in out.stderr
    assert json.loads(out.stdout)["ctx"]["protocol"] == "HTTP/2.0"
    # plain HTTP/1.1 on the same listener
    out = curl("--http1.1", f"http://127.0.0.1:{srv.port}/ctx")
    assert json.loads(out.stdout)["ctx"]["protocol"] == "HTTP/1.1"
    # a POST with a body is served as HTTP/1.1 even when it asks for the upgrade
    out = curl("-v", "--http2", "-d", "a=1", f"http://127.0.0.1:{srv.port}/ctx")
    body = json.loads(out.stdout)
    assert body["ctx"]["protocol"] == "HTTP/1.1" and json.loads(body["body"]) == {"a": "1"}


def test_without_h2c_plain_is_http1_only(serve: ServeFn) -> None:
    srv = serve()
    out = curl("--http2-prior-knowledge", f"http://127.0.0.1:{srv.port}/ctx")
    assert out.returncode != 0 or "HTTP/2.0" not in out.stdout


def test_curl_tls_alpn(serve: ServeFn, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    ssl_port = free_port()
    srv = serve(f"ssl:\n  address: 127.0.0.1:{ssl_port}\n  cert: {cert}\n  key: {key}\n")
    out = curl("-k", "--http2", "-w", "%{http_version}", f"https://127.0.0.1:{ssl_port}/ctx")
    assert out.returncode == 0, out.stderr
    assert out.stdout.endswith("2")
    ctx = json.loads(out.stdout[:-1])["ctx"]
    assert ctx["protocol"] == "HTTP/2.0" and ctx["uri"].startswith("https://")
    out = curl("-k", "--http1.1", f"https://127.0.0.1:{ssl_port}/ctx")
    assert json.loads(out.stdout)["ctx"]["protocol"] == "HTTP/1.1"
    del srv


def test_multiplexing_100_streams(serve: ServeFn) -> None:
    srv = serve(H2C, pool="num_workers: 4")
    c = Client(srv.port)
    sids = [c.request(f"/echo?i={i}") for i in range(100)]
    for i, r in enumerate(c.wait(*sids)):
        assert status(r) == 200
        assert json.loads(r["body"])["ctx"]["rawQuery"] == f"i={i}"
    c.close()


def test_headers_cookies_and_streamed_reply(serve: ServeFn) -> None:
    srv = serve(H2C)
    c = Client(srv.port)
    a, b, h = c.request("/headers"), c.request("/stream?n=50"), c.request("/hints")
    ra, rb, rh = c.wait(a, b, h)
    assert status(ra) == 201
    cookies = [v for n, v in ra["headers"] if n == "set-cookie"]
    assert cookies == ["a=1; Path=/", "b=2; HttpOnly"]
    assert [v for n, v in ra["headers"] if n == "x-multi"] == ["one", "two"]
    assert rb["body"] == b"".join(f"chunk{i}\n".encode() for i in range(50))
    assert not any(n in ("transfer-encoding", "connection") for n, _ in rb["headers"])
    assert dict(rh["interim"][0])[":status"] == "103" and rh["body"] == b"after hints"
    c.close()


def test_stream_reset_mid_reply_stops_worker(serve: ServeFn) -> None:
    srv = serve(H2C, pool="num_workers: 1")
    tag = f"h2{os.getpid()}{time.time_ns()}"
    marker = Path(f"/tmp/rr_http_stream_{tag}")
    c = Client(srv.port)
    sid = c.request(f"/stream?n=100000&ms=5&tag={tag}")
    while not c.responses[sid]["body"]:
        assert c.pump()
    c.conn.reset_stream(sid)
    c.flush()
    nxt = c.request("/pid")
    (r,) = c.wait(nxt)
    assert status(r) == 200 and r["body"].isdigit()
    assert marker.exists()
    marker.unlink()
    c.close()


def test_over_limit_body_is_413_and_reset(serve: ServeFn) -> None:
    srv = serve(H2C + "max_request_size: 1\n")
    c = Client(srv.port)
    sid = c.request("/echo", method="POST", body=b"x" * (3 << 20))
    (r,) = c.wait(sid)
    assert status(r) == 413
    # the client was still sending: the stream is reset once the 413 is out
    while not any(isinstance(e, h2.events.StreamReset) and e.stream_id == sid
                  for e in c.events):
        assert c.pump()
    (ok,) = c.wait(c.request("/pid"))
    assert status(ok) == 200
    c.close()


def test_upload_over_h2(serve: ServeFn) -> None:
    srv = serve(H2C)
    data = os.urandom(300_000)
    boundary = "XbOuNdArY"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.bin\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + \
        f"\r\n--{boundary}--\r\n".encode()
    c = Client(srv.port)
    sid = c.request("/uploads", method="POST", body=body, headers=[
        ("content-type", f"multipart/form-data; boundary={boundary}")])
    (r,) = c.wait(sid)
    assert status(r) == 200
    files = json.loads(r["body"])["files"]
    assert [f["sha256"] for f in files.values()] == [hashlib.sha256(data).hexdigest()]
    c.close()


def test_max_concurrent_streams_honoured(serve: ServeFn) -> None:
    srv = serve("http2:\n  h2c: true\n  max_concurrent_streams: 3\n")
    c = Client(srv.port)
    c.pump()  # the server's SETTINGS
    assert c.conn.remote_settings.max_concurrent_streams == 3
    c.close()


def test_stream_over_the_limit_is_refused_alone(serve: ServeFn) -> None:
    """RFC 9113 §5.1.2: RST_STREAM(REFUSED_STREAM) for the excess stream, not GOAWAY."""
    srv = serve("http2:\n  h2c: true\n  max_concurrent_streams: 3\n")
    c = Client(srv.port)
    c.pump()  # the server's SETTINGS: 3 streams
    c.conn.remote_settings.max_concurrent_streams = 100  # a client that ignores them
    c.conn.remote_settings.acknowledge()
    held = [c.request("/sleep?ms=300") for _ in range(3)]
    refused = c.request("/sleep?ms=1")
    # an excess stream with a body: its DATA frames must not upset the connection
    with_body = c.request("/ctx", method="POST", body=b"x" * 1000)
    for r in c.wait(refused, with_body):
        assert r["reset"] == 7 and not r["headers"]  # REFUSED_STREAM, nothing served
    assert [status(r) for r in c.wait(*held)] == [200, 200, 200]
    (again,) = c.wait(c.request("/pid"))  # the same connection still serves
    assert status(again) == 200
    assert not any(isinstance(e, h2.events.ConnectionTerminated) for e in c.events)
    c.close()


def _raw(port: int, data: bytes, read_for: float = 10.0) -> bytes:
    s = socket.create_connection(("127.0.0.1", port), timeout=read_for)
    try:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            out += chunk
        return out
    finally:
        s.close()


def _still_fine(port: int) -> None:
    c = Client(port)
    (r,) = c.wait(c.request("/pid"))
    assert status(r) == 200
    c.close()


def test_broken_preface_and_invalid_frames(serve: ServeFn) -> None:
    srv = serve(H2C)
    # a preface that breaks after its first bytes: HTTP/1.1 parser refuses it
    out = _raw(srv.port, b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n")
    assert not out.startswith(b"HTTP/1.1 200")
    # a valid preface, then a DATA frame on stream 0 (a connection error)
    from h2.connection import H2Connection
    cl = H2Connection()
    cl.initiate_connection()
    junk = b"\x00\x00\x04\x00\x00\x00\x00\x00\x00abcd"
    out = _raw(srv.port, cl.data_to_send() + junk)
    assert b"\x07" in out  # a GOAWAY frame type came back before the close
    _still_fine(srv.port)


def test_headers_flood_closes_connection(serve: ServeFn) -> None:
    srv = serve("http2:\n  h2c: true\n  max_concurrent_streams: 4\n")
    cl = h2.connection.H2Connection()
    cl.initiate_connection()
    cl.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 1000})
    cl.remote_settings.max_concurrent_streams = 10_000
    cl.remote_settings.acknowledge()
    for i in range(2000):
        cl.send_headers(1 + 2 * i, [(":method", "GET"), (":path", "/sleep?ms=50"),
                                     (":scheme", "http"), (":authority", "x")],
                        end_stream=True)
    out = _raw(srv.port, cl.data_to_send(), read_for=30)
    assert b"\x07" in out
    _still_fine(srv.port)


def test_settings_flood_closes_connection(serve: ServeFn) -> None:
    srv = serve(H2C)
    cl = h2.connection.H2Connection()
    cl.initiate_connection()
    flood = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00" * 50_000  # empty SETTINGS frames
    out = _raw(srv.port, cl.data_to_send() + flood, read_for=30)
    assert len(out) < 50_000 * 9  # closed long before every SETTINGS was acknowledged
    _still_fine(srv.port)


def test_http3_keys_warn(serve: ServeFn) -> None:
    srv = serve(H2C + "http3:\n  address: 127.0.0.1:0\n")
    assert "HTTP/3 (QUIC) is not served" in srv.rr.output


def test_worker_dying_mid_stream_resets_the_stream(serve: ServeFn) -> None:
    srv = serve(H2C)
    c = Client(srv.port)
    sid = c.request("/stream-crash")
    (r,) = c.wait(sid)
    assert status(r) == 200 and r["body"] == b"first\n"
    assert r["reset"] == 2  # INTERNAL_ERROR: a truncated body is not passed off as whole
    (ok,) = c.wait(c.request("/pid"))
    assert status(ok) == 200
    c.close()


def test_static_and_gzip_over_h2(serve: ServeFn, public: Path) -> None:
    srv = serve(H2C + f"""middleware: ["static", "gzip"]
static:
  dir: {public}
  calculate_etag: true
""")
    c = Client(srv.port)
    a = c.request("/hello.txt")
    b = c.request("/big.css", headers=[("accept-encoding", "gzip")])
    ra, rb = c.wait(a, b)
    assert status(ra) == 200 and ra["body"] == b"hello world"
    assert dict(ra["headers"])["etag"] == '"11-4225329227"'
    assert dict(rb["headers"])["content-encoding"] == "gzip"
    assert gzip.decompress(rb["body"]) == b"body{color:red}\n" * 200
    c.close()


def test_sigterm_lets_open_streams_finish(serve: ServeFn) -> None:
    srv = serve(H2C)
    proc = subprocess.Popen(["curl", "-sS", "-N", "--http2-prior-knowledge", "--max-time", "60",
                             f"http://127.0.0.1:{srv.port}/stream?n=20&ms=50"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    first = proc.stdout.readline()  # the reply is under way
    assert first == b"chunk0\n"
    srv.rr.signal(signal.SIGTERM)
    rest, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert first + rest == b"".join(f"chunk{i}\n".encode() for i in range(20))
    assert srv.rr.wait(30) == 0


def test_silent_or_half_preface_client_is_dropped(serve: ServeFn) -> None:
    srv = serve(H2C + "read_header_timeout: 1s\n")
    for opening in (b"", b"PRI * HTTP/2.0\r\n"):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
        s.sendall(opening)
        assert s.recv(100) == b""  # closed by the server, not by our timeout
        s.close()
    _still_fine(srv.port)


def test_http2_connection_cap(serve: ServeFn) -> None:
    srv = serve(H2C + "max_connections: 2\n")
    held = [Client(srv.port) for _ in range(2)]
    for c in held:
        c.wait(c.request("/pid"))
    with pytest.raises((AssertionError, OSError)):  # closed: EOF or a reset
        refused = Client(srv.port)
        try:
            refused.wait(refused.request("/pid"))
        finally:
            refused.close()
    held[0].close()
    wait_for(lambda: _served(srv.port))


def _served(port: int) -> bool:
    c = Client(port)
    try:
        (r,) = c.wait(c.request("/pid"))
        return status(r) == 200
    except (AssertionError, OSError):
        return False
    finally:
        c.close()


def test_ssl_redirect_over_h2c(serve: ServeFn, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    ssl_port = free_port()
    srv = serve(H2C + f"ssl:\n  address: 127.0.0.1:{ssl_port}\n  redirect: true\n"
                f"  cert: {cert}\n  key: {key}\n")
    c = Client(srv.port)
    (r,) = c.wait(c.request("/a/b?x=1"))
    headers = dict(r["headers"])
    assert status(r) == 308
    assert headers["location"] == f"https://example.test:{ssl_port}/a/b?x=1"
    assert headers["strict-transport-security"].startswith("max-age=31536000")
    c.close()
