"""grpcio clients through rr into real php-cli workers: payload, metadata, errors,
streaming refusals, deadlines, sizes and concurrency."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from google.rpc import status_pb2

from tests.grpc.conftest import SERVICE, ServeFn, msg, parse_msg
from tests.helpers import rpc

pytestmark = pytest.mark.php


def rpc_error(fn, *args, **kw) -> grpc.RpcError:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as info:
        fn(*args, **kw)
    return info.value


def test_unary_echo_and_empty_message(serve: ServeFn) -> None:
    s = serve()
    body, _ = s.call("Echo", msg("hi", 41))
    assert parse_msg(body) == ("echo:hi", 42)
    body, _ = s.call("Nothing", b"")  # an all-default message is zero bytes both ways
    assert body == b""
    body, _ = s.call("Echo", msg("zip"), compression=grpc.Compression.Gzip)
    assert parse_msg(body) == ("echo:zip", 1)


def test_metadata_in_and_headers_out(serve: ServeFn) -> None:
    s = serve()
    body, call = s.call("Meta", msg(), metadata=(("x-token", "abc"), ("x-token", "def"),
                                                 ("x-raw-bin", b"\x00\x01"),
                                                 ("x-html", "<a&b>")))
    ctx = json.loads(parse_msg(body)[0])
    assert ctx["x-token"] == ["abc", "def"]
    assert ctx["x-raw-bin"] == ["\u0000\u0001"]  # -bin arrives base64-decoded
    assert ctx["x-html"] == ["<a&b>"]
    assert ctx[":peer.address"][0].startswith("127.0.0.1:")
    assert ":peer.auth-type" not in ctx
    assert "user-agent" in ctx and "grpc-timeout" not in ctx and "content-type" not in ctx
    headers = dict(call.initial_metadata())
    assert headers["x-reply"] == "r-abc"
    assert headers["x-upper"] == "upper"  # names are lower-cased
    assert dict(call.trailing_metadata()) == {}


def test_headers_and_trailers_form(serve: ServeFn) -> None:
    s = serve()
    _, call = s.call("Meta", msg(n=1))
    assert dict(call.initial_metadata())["x-reply"] == "r-"
    assert dict(call.trailing_metadata())["x-trailer"] == "t-1"


UNKNOWN, INTERNAL = grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL


@pytest.mark.parametrize(("mode", "code", "message"), [
    ("grpc", grpc.StatusCode.PERMISSION_DENIED, "rc: denied"),
    ("notfound", grpc.StatusCode.NOT_FOUND, "rc: nothing here"),
    ("runtime", INTERNAL, "sync_worker_receive_frame: SoftJobError: rc: plain failure"),
    ("legacy", grpc.StatusCode.PERMISSION_DENIED, "rc: legacy"),
    ("legacy-zero", INTERNAL, "rc: zero"),
    ("legacy-nan", UNKNOWN, "sync_worker_receive_frame: SoftJobError: x|:|rc: nan"),
    ("badjson", UNKNOWN, "invalid character in the reply context"),
    ("nonstring", UNKNOWN, "cannot unmarshal int into Go value of type string"),
    ("badb64", UNKNOWN, "illegal base64 data"),
    ("stream", UNKNOWN, "streaming is not supported"),
])
def test_error_paths(serve: ServeFn, mode: str, code: grpc.StatusCode, message: str) -> None:
    s = serve()
    e = rpc_error(s.call, "Fail", msg(mode))
    assert e.code() == code
    assert message in e.details()
    assert "grpc-status-details-bin" not in dict(e.trailing_metadata())
    # the worker that failed (or its replacement) still serves
    assert parse_msg(s.call("Echo", msg("after"))[0])[0] == "echo:after"


def test_error_with_details(serve: ServeFn) -> None:
    s = serve()
    e = rpc_error(s.call, "Fail", msg("details"))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert e.details() == "rc: with details"
    raw = dict(e.trailing_metadata())["grpc-status-details-bin"]
    st = status_pb2.Status.FromString(raw)
    assert (st.code, st.message) == (3, "rc: with details")
    assert st.details[0].type_url == "type.googleapis.com/rc.test.v1.Msg"
    assert parse_msg(st.details[0].value) == ("detail", 7)


def test_error_with_headers_and_trailers_and_code_zero(serve: ServeFn) -> None:
    s = serve()
    e = rpc_error(s.call, "Fail", msg("trailers"))
    assert e.code() == grpc.StatusCode.ABORTED
    assert dict(e.initial_metadata())["x-h"] == "h"
    assert dict(e.trailing_metadata())["x-t"] == "t"
    body, _ = s.call("Fail", msg("code0"))  # Status code 0: success, empty message
    assert body == b""
    e = rpc_error(s.call, "Fail", msg("badheader"))  # an invalid name is dropped
    assert e.code() == grpc.StatusCode.ABORTED
    assert dict(e.initial_metadata()) == {"x-good": "ok"}


def test_unknown_and_streaming_methods_are_unimplemented(serve: ServeFn) -> None:
    s = serve()
    ch = s.channel()
    e = rpc_error(ch.unary_unary(f"/{SERVICE}/Nope"), b"")
    assert (e.code(), e.details()) == (grpc.StatusCode.UNIMPLEMENTED,
                                       f"unknown method Nope for service {SERVICE}")
    e = rpc_error(ch.unary_unary("/no.Such/Thing"), b"")
    assert (e.code(), e.details()) == (grpc.StatusCode.UNIMPLEMENTED,
                                       "unknown service no.Such")
    e = rpc_error(ch.stream_unary(f"/{SERVICE}/Upload"), iter([msg("a"), msg("b")]))
    assert e.code() == grpc.StatusCode.UNIMPLEMENTED
    assert e.details() == (f"{SERVICE}/Upload is a client streaming method; "
                           "rr serves unary methods only")
    e = rpc_error(lambda: list(ch.unary_stream(f"/{SERVICE}/Feed")(msg("a"))))
    assert e.code() == grpc.StatusCode.UNIMPLEMENTED and "server streaming" in e.details()
    e = rpc_error(lambda: list(ch.stream_stream(f"/{SERVICE}/Chat")(iter([msg("a")]))))
    assert e.code() == grpc.StatusCode.UNIMPLEMENTED and "bidi streaming" in e.details()
    # an imported file's services are registered too; PHP answers NOT_FOUND for it
    e = rpc_error(ch.unary_unary("/rc.other.v1.Other/Call"), b"")
    assert e.code() == grpc.StatusCode.NOT_FOUND
    assert "Service `rc.other.v1.Other` not found." in e.details()


def _pid(text: str) -> int:
    return int(text.rsplit(" ", 1)[1])


def test_deadline_frees_the_caller_and_the_worker_is_reused(serve: ServeFn) -> None:
    s = serve(pool="num_workers: 1")
    pid = _pid(parse_msg(s.call("Sleep", msg(n=1))[0])[0])
    t0 = time.monotonic()
    e = rpc_error(s.call, "Sleep", msg(n=1500), timeout=0.3)
    assert e.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - t0 < 1.2
    # no exec_ttl: PHP finishes, the late reply is dropped and the worker is reused
    body, _ = s.call("Sleep", msg(n=1), timeout=30)
    assert _pid(parse_msg(body)[0]) == pid


def test_client_cancel_mid_call_frees_the_worker_for_the_next_call(serve: ServeFn) -> None:
    s = serve(pool="num_workers: 1")
    pid = _pid(parse_msg(s.call("Sleep", msg(n=1))[0])[0])
    ch = s.channel()
    running = ch.unary_unary(f"/{SERVICE}/Sleep").future(msg(n=800), timeout=30)
    time.sleep(0.3)
    assert running.cancel()  # RST_STREAM(CANCEL) mid-call
    # no exec_ttl: PHP finishes the call, the late reply is dropped, the worker is reused
    body, _ = s.call("Sleep", msg(n=1), channel=ch, timeout=30)
    assert _pid(parse_msg(body)[0]) == pid


def test_deadline_with_exec_ttl_kills_the_worker(serve: ServeFn) -> None:
    s = serve(pool="""\
        num_workers: 1
        supervisor:
          exec_ttl: 60s
        """)
    pid = _pid(parse_msg(s.call("Sleep", msg(n=1))[0])[0])
    e = rpc_error(s.call, "Sleep", msg(n=5000), timeout=0.3)
    assert e.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    t0 = time.monotonic()
    body, _ = s.call("Sleep", msg(n=1), timeout=30)
    assert _pid(parse_msg(body)[0]) != pid  # replaced, not waited for
    assert time.monotonic() - t0 < 4.0
    s.rr.wait_output("worker stopped, and will be restarted")


def test_one_mib_message_and_size_limits(serve: ServeFn) -> None:
    s = serve(grpc_extra="""\
        max_recv_msg_size: 2
        max_send_msg_size: 2
        """)
    big = "x" * (1024 * 1024)
    body, _ = s.call("Big", msg(big, 1024 * 1024))
    assert parse_msg(body) == ("b" * (1024 * 1024), len(big))
    e = rpc_error(s.call, "Echo", msg("x" * (3 * 1024 * 1024)))
    assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "larger than max" in e.details()
    e = rpc_error(s.call, "Big", msg(n=3 * 1024 * 1024))
    assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert parse_msg(s.call("Echo", msg("still"))[0])[0] == "echo:still"


def test_200_concurrent_calls_on_one_channel(serve: ServeFn) -> None:
    s = serve()  # default max_concurrent_streams: 10 per connection
    ch = s.channel()
    stub = ch.unary_unary(f"/{SERVICE}/Echo")
    futures = [stub.future(msg(f"c{i}", i)) for i in range(200)]
    results = [f.result(timeout=60) for f in futures]
    assert [parse_msg(r) for r in results] == [(f"echo:c{i}", i + 1) for i in range(200)]


def test_concurrency_per_connection_is_limited(serve: ServeFn) -> None:
    s = serve(pool="num_workers: 4", grpc_extra="max_concurrent_streams: 1\n")
    one, two = s.channel(), s.channel()
    sleep_one = one.unary_unary(f"/{SERVICE}/Sleep")
    sleep_two = two.unary_unary(f"/{SERVICE}/Sleep")
    t0 = time.monotonic()
    same = [sleep_one.future(msg(n=400)) for _ in range(3)]
    for f in same:
        f.result(timeout=30)
    serial = time.monotonic() - t0
    t0 = time.monotonic()
    apart = [sleep_one.future(msg(n=400)), sleep_two.future(msg(n=400))]
    for f in apart:
        f.result(timeout=30)
    parallel = time.monotonic() - t0
    assert serial >= 1.2  # one at a time on one connection
    assert parallel < serial


def test_worker_crash_mid_call(serve: ServeFn) -> None:
    s = serve(pool="num_workers: 1")
    before = _pid(parse_msg(s.call("Sleep", msg(n=1))[0])[0])
    e = rpc_error(s.call, "Crash", msg())
    assert e.code() == grpc.StatusCode.INTERNAL
    s.rr.wait_output("crashing on purpose")
    body, _ = s.call("Sleep", msg(n=1), timeout=30)
    assert _pid(parse_msg(body)[0]) != before


def test_many_clients_in_threads(serve: ServeFn) -> None:
    s = serve()

    def one(i: int) -> tuple[str, int]:
        ch = grpc.insecure_channel(s.target)
        try:
            body = ch.unary_unary(f"/{SERVICE}/Echo")(msg(str(i), i), timeout=30)
            return parse_msg(body)
        finally:
            ch.close()

    with ThreadPoolExecutor(8) as ex:
        got = list(ex.map(one, range(40)))
    assert got == [(f"echo:{i}", i + 1) for i in range(40)]


def test_worker_stop_request_is_retried_transparently(serve: ServeFn) -> None:
    s = serve()
    body, _ = s.call("Fail", msg("stop-once"), timeout=30)
    stopped = int((s.workdir / "stopped-once").read_text())
    answered_by = _pid(parse_msg(body)[0])
    assert answered_by != stopped


def test_no_free_worker_in_time_is_internal(serve: ServeFn) -> None:
    s = serve(pool="""\
        num_workers: 1
        allocate_timeout: 0.5s
        """)
    busy = s.channel().unary_unary(f"/{SERVICE}/Sleep").future(msg(n=2500), timeout=30)
    time.sleep(0.5)
    e = rpc_error(s.call, "Echo", msg("queued"), channel=s.channel(), timeout=30)
    assert e.code() == grpc.StatusCode.INTERNAL
    assert e.details().startswith("static_pool_exec: NoFreeWorkers")
    assert parse_msg(busy.result(timeout=30))[0].startswith("slept 2500")


def test_informer_adds_and_removes_grpc_workers(serve: ServeFn) -> None:
    s = serve(pool="num_workers: 1")
    rpc(s.rpc_address, "informer.AddWorker", "grpc")  # replies false, as RoadRunner does
    assert len(rpc(s.rpc_address, "informer.Workers", "grpc")["workers"]) == 2
    rpc(s.rpc_address, "informer.RemoveWorker", "grpc")
    assert len(rpc(s.rpc_address, "informer.Workers", "grpc")["workers"]) == 1
    assert parse_msg(s.call("Echo", msg("x"))[0])[0] == "echo:x"


def test_worker_environment(serve: ServeFn) -> None:
    s = serve(grpc_extra="""\
        env:
          grpc_test: from-config
        """)
    ctx = json.loads(parse_msg(s.call("Meta", msg(n=2))[0])[0])
    assert ctx["env"] == {"RR_MODE": "grpc", "GRPC_TEST": "from-config"}


def test_idle_connections_are_closed_after_max_connection_idle(serve: ServeFn) -> None:
    s = serve(grpc_extra="max_connection_idle: 1s\n")
    ch = s.channel()

    def peer() -> str:
        return json.loads(parse_msg(s.call("Meta", msg(), channel=ch)[0])[0])[":peer.address"][0]

    first = peer()
    assert peer() == first  # busy enough: the same connection
    time.sleep(3.0)
    assert peer() != first  # GOAWAY after 1 s idle; the channel reconnected
