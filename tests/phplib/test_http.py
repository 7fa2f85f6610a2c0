"""RR\\Http\\HttpWorker over real pipes: request mapping, response context, streaming."""

from __future__ import annotations

import json

from rr.goridge import frame as fr
from tests.phplib.harness import PhpPipeWorker, split_payload


def _ctx(uri: str = "http://localhost/info", **over: object) -> bytes:
    ctx: dict[str, object] = {
        "remoteAddr": "192.0.2.10", "protocol": "HTTP/1.1", "method": "GET", "uri": uri,
        "headers": {"Accept": ["*/*"], "X-Dup": ["1", "2"]}, "cookies": {"sid": "ab c"},
        "rawQuery": uri.partition("?")[2], "parsed": False, "uploads": None,
        "attributes": None,
    }
    ctx.update(over)
    return json.dumps(ctx).encode()


def _worker() -> PhpPipeWorker:
    w = PhpPipeWorker("phplib_http.php", env={"RR_MODE": "http"})
    w.handshake()
    return w


def test_request_fields_and_response_context() -> None:
    with _worker() as w:
        reply = w.request(_ctx("http://shop.example:8080/info?a=1&b[]=x&b[]=y",
                               protocol="HTTP/2.0"), b"raw body")
        assert reply.flags == fr.CODEC_JSON and reply.byte10 == 0
        ctx, body = split_payload(reply)
        assert json.loads(ctx) == {
            "status": 200,
            "headers": {"Content-Type": ["application/json"], "X-Multi": ["a", "b"]}}
        seen = json.loads(body)
        assert seen["remoteAddr"] == "192.0.2.10"
        assert seen["protocol"] == "2"
        assert seen["method"] == "GET"
        assert seen["path"] == "/info"
        assert seen["query"] == {"a": "1", "b": ["x", "y"]}
        assert seen["headers"] == {"Accept": ["*/*"], "X-Dup": ["1", "2"]}
        assert seen["cookies"] == {"sid": "ab c"}
        assert seen["parsed"] is None and seen["body"] == "raw body"


def test_parsed_body_and_ip_attribute() -> None:
    with _worker() as w:
        reply = w.request(_ctx(method="POST", parsed=True,
                               attributes={"ipAddress": "203.0.113.7"}),
                          b'{"title":"hello","tags":["a"]}')
        seen = json.loads(split_payload(reply)[1])
        assert seen["parsed"] == {"title": "hello", "tags": ["a"]}
        assert seen["remoteAddr"] == "203.0.113.7"


def test_empty_headers_are_a_json_object() -> None:
    with _worker() as w:
        ctx, body = split_payload(w.request(_ctx("http://localhost/hints"), b""))
        # 103 interim first: STREAM bit, empty body, only its own headers
        assert ctx == b'{"status":103,"headers":{"Link":["</style.css>; rel=preload; as=style"]}}'
        assert body == b""
        final = w.read_frame()
        assert final.byte10 == 0
        assert split_payload(final) == (b'{"status":200,"headers":{}}', b"final")


def test_interim_response_carries_stream_bit() -> None:
    with _worker() as w:
        first = w.request(_ctx("http://localhost/hints"), b"")
        assert first.byte10 & fr.STREAM
        w.read_frame()


def test_missing_parsed_key_answers_400_and_worker_survives() -> None:
    with _worker() as w:
        bad = json.loads(_ctx())
        del bad["parsed"]
        ctx, body = split_payload(w.request(json.dumps(bad).encode(), b""))
        assert json.loads(ctx)["status"] == 400
        assert b"parsed" in body
        ctx, _ = split_payload(w.request(_ctx(), b""))
        assert json.loads(ctx)["status"] == 200


def test_header_given_as_string_is_400() -> None:
    with _worker() as w:
        ctx, _ = split_payload(w.request(_ctx(headers={"Accept": "*/*"}), b""))
        assert json.loads(ctx)["status"] == 400


def test_exception_pattern_sends_500_then_error_frame() -> None:
    with _worker() as w:
        ctx, body = split_payload(w.request(_ctx("http://localhost/fail"), b""))
        assert json.loads(ctx)["status"] == 500 and body == b"Something Went Wrong!"
        err = w.read_frame()
        assert err.flags == fr.ERROR and err.options == ()
        assert b"RuntimeException: boom" in err.payload


def test_stream_chunks_pings_and_final_frame() -> None:
    with _worker() as w:
        w.send_request(_ctx("http://localhost/stream?n=12"), b"")
        frames = []
        while True:
            f = w.read_frame()
            frames.append(f)
            if f.byte10 & fr.PING:
                w.send(byte10=fr.PONG)
            if not f.byte10 & fr.STREAM:
                break
        bodies = [split_payload(f)[1] for f in frames]
        assert bodies == [f"chunk{i}\n".encode() for i in range(12)] + [b""]
        for f in frames:
            assert json.loads(split_payload(f)[0]) == {
                "status": 200, "headers": {"Content-Type": ["text/plain"]}}
        pings = [i for i, f in enumerate(frames) if f.byte10 & fr.PING]
        # PING when the frames already sent are a non-zero multiple of 5 and no PONG is
        # outstanding; whether the PONG for frame 5 was read before frame 10 is timing
        assert pings[0] == 5 and set(pings) <= {5, 10}, pings
        # the worker is free again
        assert json.loads(split_payload(w.request(_ctx(), b""))[0])["status"] == 200


def test_stream_stop_is_acknowledged_with_final_frame() -> None:
    with _worker() as w:
        w.send_request(_ctx("http://localhost/stream?n=1000"), b"")
        stopped = False
        while True:
            f = w.read_frame()
            if f.byte10 & fr.PING and not stopped:
                # answer the ping with STOP: the worker sees it while polling for the pong
                w.send(byte10=fr.STOP)
                stopped = True
            if not f.byte10 & fr.STREAM:
                break
        assert stopped
        assert f.options == (0,) and f.payload == b"" and f.flags == 0
        assert json.loads(split_payload(w.request(_ctx(), b""))[0])["status"] == 200
        assert "stream stopped" in w.stderr or _wait_stderr(w, "stream stopped")


def test_late_pong_is_ignored_by_next_wait() -> None:
    with _worker() as w:
        w.send_request(_ctx("http://localhost/stream?n=6"), b"")
        while True:
            f = w.read_frame()
            if not f.byte10 & fr.STREAM:
                break
        w.send(byte10=fr.PONG)  # answer arrives after the stream already ended
        assert json.loads(split_payload(w.request(_ctx(), b""))[0])["status"] == 200


def test_stop_command_exits() -> None:
    with _worker() as w:
        assert w.stop() == 0


def _wait_stderr(w: PhpPipeWorker, text: str) -> bool:
    import time
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if text in w.stderr:
            return True
        time.sleep(0.02)
    return False
