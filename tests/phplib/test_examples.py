"""php/examples/worker.php, the script of .rr.yaml.example, in both modes."""

from __future__ import annotations

import json

from rr.goridge import frame as fr
from tests.helpers import PHP_DIR
from tests.phplib.harness import PhpPipeWorker, split_payload

SCRIPT = PHP_DIR / "examples" / "worker.php"


def _http_ctx(method: str, uri: str, **over: object) -> bytes:
    ctx = {"remoteAddr": "127.0.0.1", "protocol": "HTTP/1.1", "method": method, "uri": uri,
           "headers": {}, "cookies": {}, "rawQuery": uri.partition("?")[2], "parsed": False,
           "uploads": None, "attributes": None, **over}
    return json.dumps(ctx).encode()


def test_http_hello_and_json() -> None:
    with PhpPipeWorker(SCRIPT, env={"RR_MODE": "http"}) as w:
        w.handshake()
        ctx, body = split_payload(w.request(_http_ctx("GET", "http://h/some/path?x=1"), b""))
        assert json.loads(ctx)["status"] == 200
        assert body == b"Hello from rr, GET /some/path"
        ctx, body = split_payload(w.request(_http_ctx("POST", "http://h/json?x=1"), b"data"))
        assert json.loads(ctx) == {"status": 200,
                                   "headers": {"Content-Type": ["application/json"]}}
        echoed = json.loads(body)
        assert (echoed["method"], echoed["path"], echoed["query"], echoed["body"]) == (
            "POST", "/json", {"x": "1"}, "data")
        ctx, _ = split_payload(w.request(b"not json", b""))
        assert json.loads(ctx)["status"] == 400
        assert w.stop() == 0


def test_jobs_mode_acks_and_logs() -> None:
    with PhpPipeWorker(SCRIPT, env={"RR_MODE": "jobs"}) as w:
        w.handshake()
        ctx = {"id": "j-1", "job": "Ping", "driver": "memory", "headers": {},
               "pipeline": "local"}
        frame = w.request(json.dumps(ctx).encode(), b'{"n":1}', fr.CODEC_RAW)
        assert split_payload(frame) == (b"", b'{"type":2,"data":[]}')
        assert w.stop() == 0
        assert 'job j-1 Ping from local: {"n":1}' in w.stderr
