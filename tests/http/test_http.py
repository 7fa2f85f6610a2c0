"""The http plugin end to end: `rr serve` with real php-cli workers (tests/php/http_app.php)."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
import time
from pathlib import Path

from tests.http.conftest import ServeFn


def test_context_keys(serve: ServeFn) -> None:
    srv = serve()
    got = srv.get_json("/p/a?x=1&y=%20z", headers=[
        ("X-Multi", "a"), ("x-multi", "b"), ("Cookie", "sid=ab%20c; t=1"), ("Cookie", "u=2")])
    ctx = got["ctx"]
    assert list(ctx) == ["remoteAddr", "protocol", "method", "uri", "headers", "cookies",
                         "rawQuery", "parsed", "uploads", "attributes"]
    assert ctx["remoteAddr"] == "127.0.0.1"
    assert ctx["protocol"] == "HTTP/1.1"
    assert ctx["method"] == "GET"
    assert ctx["uri"] == f"http://127.0.0.1:{srv.port}/p/a?x=1&y=%20z"
    assert ctx["rawQuery"] == "x=1&y=%20z"
    assert ctx["headers"]["X-Multi"] == ["a", "b"]
    assert "Host" not in ctx["headers"]
    assert ctx["headers"]["Cookie"] == ["sid=ab%20c; t=1", "u=2"]
    assert ctx["cookies"] == {"sid": "ab c", "t": "1", "u": "2"}
    assert ctx["parsed"] is False and ctx["uploads"] is None and ctx["attributes"] is None
    assert got["body"] == ""


def test_raw_body_and_json_pass_through(serve: ServeFn) -> None:
    srv = serve()
    status, _, body = srv.request("POST", "/j", b'{"a":1}', {"Content-Type": "application/json"})
    got = json.loads(body)
    assert status == 200 and got["body"] == '{"a":1}' and got["ctx"]["parsed"] is False


def test_urlencoded_tree_and_conflict(serve: ServeFn) -> None:
    srv = serve()
    form = b"user[name]=Ann&user[age]=3&tags[]=x&tags[]=y&m[a][]=1&m[a][]=2&name=a&name=b"
    status, _, body = srv.request("POST", "/f", form,
                                  {"Content-Type": "application/x-www-form-urlencoded"})
    got = json.loads(body)
    assert got["ctx"]["parsed"] is True
    assert json.loads(got["body"]) == {"user": {"name": "Ann", "age": "3"}, "tags": ["x", "y"],
                                      "m": {"a": ["1", "2"]}, "name": "b"}
    status, headers, body = srv.request(
        "POST", "/f", b"a=x&a[b]=y", {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 500
    assert body == b"serve_http: invalid multiple values to key 'a' in tree\n"
    # GET with a form content type: parsed, but empty tree
    got = srv.get_json("/f", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert got["ctx"]["parsed"] is True and got["body"] == "{}"


def _multipart(fields: list[tuple[str, str]], files: list[tuple[str, str, bytes]]
               ) -> tuple[bytes, str]:
    boundary = "rrBoundary7MA4YWxk"
    out = b""
    for name, value in fields:
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                f"{value}\r\n").encode()
    for name, filename, data in files:
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
                ).encode() + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"


def test_multipart_uploads_and_cleanup(serve: ServeFn, tmp_path: Path) -> None:
    updir = tmp_path / "uploads"
    updir.mkdir()
    srv = serve(http_extra=f"""\
        uploads:
          dir: {updir}
          forbid: [".php"]
        """)
    blobs = [os.urandom(3000), os.urandom(10), b"<?php echo 1;"]
    body, ctype = _multipart(
        [("title", "hello"), ("doc[a][]", "v")],
        [("files[]", "a.bin", blobs[0]), ("files[]", "b.txt", blobs[1]),
         ("evil", "x.PHP", blobs[2]), ("single", "s.txt", b"s")])
    status, _, raw = srv.request("POST", "/uploads", body, {"Content-Type": ctype})
    assert status == 200, raw
    got = json.loads(raw)
    ctx = got["ctx"]
    assert ctx["parsed"] is True
    assert json.loads(got["body"]) == {"title": "hello", "doc": {"a": ["v"]}}
    files = ctx["uploads"]["files"]
    assert [f["name"] for f in files] == ["a.bin", "b.txt"]
    assert [f["size"] for f in files] == [3000, 10]
    assert all(f["error"] == 0 and f["mime"] == "application/octet-stream" for f in files)
    assert list(files[0]) == ["name", "mime", "size", "error", "tmpName"]
    for f, blob in zip(files, blobs[:2], strict=True):
        assert Path(f["tmpName"]).parent == updir
        assert Path(f["tmpName"]).name.startswith("upload")
        assert got["files"][f["tmpName"]] == {"exists": True,
                                             "sha256": hashlib.sha256(blob).hexdigest()}
    assert ctx["uploads"]["evil"] == {"name": "x.PHP", "mime": "application/octet-stream",
                                      "size": 0, "error": 8, "tmpName": ""}
    assert ctx["uploads"]["single"]["size"] == 1
    # temp files are gone once the response was written
    assert list(updir.iterdir()) == []


def test_response_headers_cookies_status(serve: ServeFn) -> None:
    srv = serve()
    status, headers, body = srv.request("GET", "/headers")
    assert status == 201 and body == b"hdrs"
    assert headers.get_all("X-Multi") == ["one", "two"]
    assert headers.get_all("Set-Cookie") == ["a=1; Path=/", "b=2; HttpOnly"]
    assert headers["X-Plain"] == "single"
    status, headers, body = srv.request("GET", "/status?code=999")
    assert (status, body) == (500, b"unknown status code from worker: 999\n")
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    srv.rr.wait_output('"msg":"invalid status code from worker","status":999')


def test_request_too_large(serve: ServeFn) -> None:
    srv = serve(http_extra="max_request_size: 1\n")
    status, headers, body = srv.request("POST", "/x", b"a" * (1024 * 1024 + 1))
    assert (status, body) == (413, b"serve_http: http: request body too large\n")
    assert headers["Connection"] == "close"
    # exactly the limit is fine
    status, _, body = srv.request("POST", "/x", b"a" * (1024 * 1024))
    assert status == 200 and len(json.loads(body)["body"]) == 1024 * 1024


def test_worker_crash_then_next_request_ok(serve: ServeFn) -> None:
    srv = serve(pool="num_workers: 1")
    status, _, body = srv.request("GET", "/crash")
    assert (status, body) == (500, b"")
    assert srv.request("GET", "/pid")[0] == 200


def test_error_frame_debug_body(serve: ServeFn) -> None:
    srv = serve()
    assert srv.request("GET", "/error")[:3:2] == (500, b"")
    srv2 = serve(pool="debug: true")
    status, _, body = srv2.request("GET", "/error")
    assert status == 500
    assert body == b"sync_worker_receive_frame: SoftJobError: boom\n"


def test_internal_error_code(serve: ServeFn) -> None:
    srv = serve(http_extra="internal_error_code: 502\n")
    assert srv.request("GET", "/error")[0] == 502


def test_exec_ttl(serve: ServeFn) -> None:
    srv = serve(pool="""\
        num_workers: 1
        debug: false
        supervisor:
          exec_ttl: 1s
        """)
    status, _, _ = srv.request("GET", "/sleep?ms=5000")
    assert status == 500
    assert srv.request("GET", "/pid")[0] == 200


def test_allocate_timeout_under_overload(serve: ServeFn) -> None:
    srv = serve(pool="""\
        num_workers: 1
        allocate_timeout: 1s
        """)
    results: list[int] = []
    t = threading.Thread(target=lambda: results.append(srv.request("GET", "/sleep?ms=4000")[0]))
    t.start()
    time.sleep(0.5)
    status, headers, body = srv.request("GET", "/pid")
    t.join()
    assert (status, body) == (500, b"")
    assert results == [200]


def test_streaming_response(serve: ServeFn) -> None:
    srv = serve()
    status, headers, body = srv.request("GET", "/stream?n=12")
    assert status == 200
    assert headers["X-Stream"] == "yes" and headers["Transfer-Encoding"] == "chunked"
    assert body == b"".join(f"chunk{i}\n".encode() for i in range(12))


def test_stream_client_disconnect_frees_worker(serve: ServeFn) -> None:
    srv = serve(pool="num_workers: 1")
    tag = f"t{os.getpid()}{time.time_ns()}"
    marker = Path(f"/tmp/rr_http_stream_{tag}")
    s = socket.create_connection(("127.0.0.1", srv.port))
    s.sendall(f"GET /stream?n=100000&ms=5&tag={tag} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert s.recv(100).startswith(b"HTTP/1.1 200")
    s.close()
    # the worker sees STOP, ends the generator and serves the next request
    status, _, _ = srv.request("GET", "/pid", timeout=30)
    assert status == 200
    assert marker.exists()
    marker.unlink()


def test_early_hints(serve: ServeFn) -> None:
    srv = serve()
    s = socket.create_connection(("127.0.0.1", srv.port))
    s.sendall(b"GET /hints HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    assert data.startswith(
        b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n")
    final = data.split(b"\r\n\r\n", 2)
    assert final[1].startswith(b"HTTP/1.1 200 OK") and b"after hints" in final[2]


def test_worker_stop_is_retried(serve: ServeFn) -> None:
    srv = serve(pool="num_workers: 1")
    status, _, _ = srv.request("GET", "/stop")
    # the request is re-run on a fresh worker, which again asks to stop... until success
    # is impossible here, so only check the server survives and answers afterwards
    assert status in (200, 500)
    assert srv.request("GET", "/pid")[0] == 200


def test_sigterm_completes_in_flight(serve: ServeFn) -> None:
    srv = serve()
    results: list[tuple[int, bytes]] = []

    def call() -> None:
        st, _, body = srv.request("GET", "/sleep?ms=1500")
        results.append((st, body))

    threads = [threading.Thread(target=call) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    srv.rr.signal()
    for t in threads:
        t.join()
    assert [r[0] for r in results] == [200, 200]
    assert srv.rr.wait(30) == 0
