"""Middleware, TLS and the Laravel Octane command line, end to end through `rr serve`."""

from __future__ import annotations

import gzip
import http.client
import json
import os
import ssl
import subprocess
from pathlib import Path

import pytest

from rr.http import etag
from tests.helpers import PHP_FIXTURES, RRProcess, free_port
from tests.http.conftest import ServeFn


def test_trusted_proxy(serve: ServeFn) -> None:
    srv = serve(http_extra="""\
        middleware: ["proxy_ip_parser"]
        trusted_subnets: ["127.0.0.0/8"]
        """)
    def remote(headers: dict[str, str]) -> str:
        return str(srv.get_json("/", headers=headers)["ctx"]["remoteAddr"])

    assert remote({"X-Forwarded-For": "203.0.113.7, 10.0.0.1"}) == "203.0.113.7"
    assert remote({"Forwarded": 'for="[2001:db8::1]:4711"'}) == "2001:db8::1"
    assert remote({"X-Real-Ip": "198.51.100.2"}) == "198.51.100.2"
    assert remote({"X-Forwarded-For": "not-an-ip"}) == ""
    assert remote({}) == "127.0.0.1"


def test_untrusted_peer_keeps_socket_ip(serve: ServeFn) -> None:
    srv = serve(http_extra="""\
        middleware: ["proxy_ip_parser"]
        trusted_subnets: ["10.0.0.0/8"]
        """)
    got = srv.get_json("/", headers={"X-Forwarded-For": "203.0.113.7"})
    assert got["ctx"]["remoteAddr"] == "127.0.0.1"


@pytest.fixture
def public(tmp_path: Path) -> Path:
    pub = tmp_path / "public"
    pub.mkdir()
    (pub / "hello.txt").write_bytes(b"hello world")
    (pub / "big.css").write_bytes(b"body{color:red}\n" * 200)
    (pub / "app.php").write_text("<?php secret")
    (tmp_path / "secret.txt").write_text("outside")
    os.symlink(tmp_path / "secret.txt", pub / "escape.txt")
    return pub


def test_static_files(serve: ServeFn, public: Path) -> None:
    srv = serve(http_extra=f"""\
        middleware: ["static", "gzip"]
        static:
          dir: {public}
          forbid: [".php"]
          calculate_etag: true
          response:
            x-static: "yes"
        """)
    status, headers, body = srv.request("GET", "/hello.txt")
    assert (status, body) == (200, b"hello world")
    assert headers["ETag"] == '"11-4225329227"'
    assert headers["X-Static"] == "yes" and "Last-Modified" in headers
    status, _, _ = srv.request("GET", "/hello.txt", headers={"If-None-Match": '"11-4225329227"'})
    assert status == 304
    status, headers, body = srv.request("GET", "/hello.txt", headers={"Range": "bytes=0-4"})
    assert (status, body) == (206, b"hello")
    # forbidden extension and missing files go to PHP
    got = srv.get_json("/app.php")
    assert got["ctx"]["uri"].endswith("/app.php")
    assert srv.get_json("/missing.txt")["ctx"]["method"] == "GET"
    # traversal and symlink escapes
    for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/escape.txt"):
        status, _, body = srv.request("GET", path)
        assert (status, body) == (403, b""), path
    # gzip for big compressible files only
    status, headers, body = srv.request("GET", "/big.css", headers={"Accept-Encoding": "gzip"})
    assert headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(body) == b"body{color:red}\n" * 200
    status, headers, body = srv.request("GET", "/hello.txt", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in headers and body == b"hello world"


def test_static_weak_etag(serve: ServeFn, public: Path) -> None:
    (public / "sample.txt").write_text("x")
    srv = serve(http_extra=f"""\
        middleware: static
        static:
          dir: {public}
          calculate_etag: true
          weak: true
        """)
    assert srv.request("GET", "/sample.txt")[1]["ETag"] == 'W/"2651801651"'
    assert etag.weak("sample.txt") == 'W/"2651801651"'


def test_static_missing_dir_fails_start(tmp_path: Path) -> None:
    port = free_port()
    rr = RRProcess(f"""\
        version: "3"
        server:
          command: "php {PHP_FIXTURES / 'http_app.php'}"
        http:
          address: 127.0.0.1:{port}
          middleware: [static]
          static:
            dir: {tmp_path / 'nope'}
        """, tmp_path)
    rr.start(wait=False)
    assert rr.wait(30) != 0
    assert "does not exists" in rr.output


def test_gzip_php_responses(serve: ServeFn) -> None:
    srv = serve(http_extra="middleware: [gzip]\n")
    status, headers, body = srv.request("GET", "/big?n=500", headers={"Accept-Encoding": "gzip"})
    assert headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in headers["Vary"]
    assert gzip.decompress(body) == b"abcdefghij" * 500
    status, headers, body = srv.request("GET", "/big?n=50", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in headers and body == b"abcdefghij" * 50
    status, headers, body = srv.request("GET", "/big?n=500")
    assert "Content-Encoding" not in headers


def test_headers_and_cors(serve: ServeFn) -> None:
    srv = serve(http_extra="""\
        middleware: [headers]
        headers:
          request:
            x-from-rr: "1"
          response:
            x-powered-by: "rr"
          cors:
            allowed_origin: "https://app.example"
            allowed_methods: "GET,POST,PUT"
            allowed_headers: "*"
            exposed_headers: "X-Total"
            allow_credentials: true
            max_age: 600
            options_success_status: 204
        """)
    status, headers, body = srv.request("OPTIONS", "/any", headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "x-custom"})
    assert status == 204 and body == b""
    assert headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert headers["Access-Control-Allow-Methods"] == "PUT"
    assert headers["Access-Control-Allow-Headers"] == "X-Custom"
    assert headers["Access-Control-Allow-Credentials"] == "true"
    assert headers["Access-Control-Max-Age"] == "600"
    assert headers.get_all("Vary") == ["Origin", "Access-Control-Request-Method",
                                       "Access-Control-Request-Headers"]
    status, headers, body = srv.request("GET", "/", headers={"Origin": "https://app.example"})
    assert headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert headers["Access-Control-Expose-Headers"] == "X-Total"
    assert headers["X-Powered-By"] == "rr"
    assert json.loads(body)["ctx"]["headers"]["X-From-Rr"] == ["1"]
    status, headers, _ = srv.request("GET", "/", headers={"Origin": "https://evil.example"})
    assert status == 200 and "Access-Control-Allow-Origin" not in headers


def _self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def test_tls_and_redirect(serve: ServeFn, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    ssl_port = free_port()
    srv = serve(http_extra=f"""\
        ssl:
          address: 127.0.0.1:{ssl_port}
          cert: {cert}
          key: {key}
          redirect: true
        """)
    status, headers, _ = srv.request("GET", "/a?b=1")
    assert status == 308
    assert headers["Location"] == f"https://127.0.0.1:{ssl_port}/a?b=1"
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    ctx = ssl.create_default_context(cafile=str(cert))
    conn = http.client.HTTPSConnection("127.0.0.1", ssl_port, context=ctx, timeout=30)
    conn.request("GET", "/tls?x=1")
    resp = conn.getresponse()
    got = json.loads(resp.read())
    conn.close()
    assert resp.status == 200
    assert got["ctx"]["uri"] == f"https://127.0.0.1:{ssl_port}/tls?x=1"


def test_access_log_json_shape(serve: ServeFn) -> None:
    srv = serve(http_extra="access_logs: true\n")
    srv.request("GET", "/pid?q=1", headers={"User-Agent": "ua-test", "Referer": "http://r/"})
    srv.rr.wait_output('"http access log"')
    line = next(json.loads(x) for x in srv.rr.output.splitlines()
                if '"http access log"' in x)
    assert line["level"] == "info" and line["logger"] == "http"
    assert line["status"] == 200 and line["method"] == "GET" and line["URL"] == "/pid?q=1"
    assert line["query"] == "q=1" and line["user_agent"] == "ua-test"
    assert line["referer"] == "http://r/" and line["remote_address"].startswith("127.0.0.1:")
    for key in ("URI", "read_bytes", "write_bytes", "start", "elapsed", "content_len", "host",
                "time_local", "request_time"):
        assert key in line


def test_octane_command_line(tmp_path: Path) -> None:
    pub = tmp_path / "public"
    pub.mkdir()
    (pub / "robots.txt").write_text("User-agent: *\n")
    port, rpc_port = free_port(), free_port()
    worker = os.path.relpath(PHP_FIXTURES / "http_app.php", tmp_path)
    rr = RRProcess("version: '3'\n", tmp_path, args=[
        "-o", "version=3", "-o", f"http.address=127.0.0.1:{port}",
        "-o", f"server.command=php,{worker}", "-o", "http.pool.num_workers=2",
        "-o", "http.pool.max_jobs=500", "-o", f"rpc.listen=tcp://127.0.0.1:{rpc_port}",
        "-o", "http.pool.supervisor.exec_ttl=30s", "-o", "http.static.dir=public",
        "-o", "http.middleware=static", "-o", "logs.mode=production", "-o", "logs.level=debug",
        "-o", "logs.output=stdout", "-o", "logs.encoding=json"])
    with rr:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/robots.txt")
        resp = conn.getresponse()
        assert (resp.status, resp.read()) == (200, b"User-agent: *\n")
        conn.request("GET", "/dynamic")
        resp = conn.getresponse()
        assert resp.status == 200 and json.loads(resp.read())["ctx"]["method"] == "GET"
        conn.close()
        rr.wait_output('"msg":"http log"')
        entries = [json.loads(x) for x in rr.output.splitlines() if '"http log"' in x]
        assert {"status", "method", "URL", "elapsed", "remote_address"} <= set(entries[0])
