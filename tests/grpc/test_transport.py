"""TLS and mTLS, the unix socket listener, hostile bytes on the port, config errors."""

from __future__ import annotations

import contextlib
import json
import socket
from pathlib import Path

import grpc
import pytest

from tests.grpc import certs as certs_mod
from tests.grpc.conftest import SERVICE, ServeFn, config, copy_protos, msg, parse_msg
from tests.helpers import RRProcess, free_port

pytestmark = pytest.mark.php


def _tls_channel(target: str, c: certs_mod.Certs, client_cert: bool) -> grpc.Channel:
    creds = grpc.ssl_channel_credentials(
        root_certificates=c.ca.read_bytes(),
        private_key=c.client_key.read_bytes() if client_cert else None,
        certificate_chain=c.client_cert.read_bytes() if client_cert else None)
    return grpc.secure_channel(target, creds,
                               options=[("grpc.ssl_target_name_override", "localhost")])


def test_tls(serve: ServeFn, tmp_path: Path) -> None:
    c = certs_mod.make(tmp_path)
    s = serve(grpc_extra=f"""\
        tls:
          key: {c.server_key}
          cert: {c.server_cert}
        """)
    ch = _tls_channel(s.target, c, client_cert=False)
    body = ch.unary_unary(f"/{SERVICE}/Meta")(msg(), timeout=30)
    ctx = json.loads(parse_msg(body)[0])
    assert ctx[":peer.auth-type"] == ["tls"]
    ch.close()
    plain = grpc.insecure_channel(s.target)  # no cleartext fallback on a TLS listener
    with pytest.raises(grpc.RpcError) as info:
        plain.unary_unary(f"/{SERVICE}/Echo")(msg("x"), timeout=3)
    assert info.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    plain.close()


def test_mtls_requires_a_client_certificate(serve: ServeFn, tmp_path: Path) -> None:
    c = certs_mod.make(tmp_path)
    s = serve(grpc_extra=f"""\
        tls:
          key: {c.server_key}
          cert: {c.server_cert}
          root_ca: {c.ca}
          client_auth_type: require_and_verify_client_cert
        """)
    ch = _tls_channel(s.target, c, client_cert=True)
    assert parse_msg(ch.unary_unary(f"/{SERVICE}/Echo")(msg("m"), timeout=30))[0] == "echo:m"
    ch.close()
    anon = _tls_channel(s.target, c, client_cert=False)
    with pytest.raises(grpc.RpcError) as info:
        anon.unary_unary(f"/{SERVICE}/Echo")(msg("x"), timeout=5)
    assert info.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    anon.close()


def test_unix_socket_listener(serve: ServeFn, tmp_path: Path) -> None:
    path = tmp_path / "grpc.sock"
    s = serve(listen=f"unix://{path}")
    ch = s.channel()
    body = ch.unary_unary(f"/{SERVICE}/Meta")(msg(), timeout=30)
    assert json.loads(parse_msg(body)[0])[":peer.address"] == ["@"]
    assert path.is_socket()
    assert parse_msg(ch.unary_unary(f"/{SERVICE}/Echo")(msg("u"), timeout=30))[0] == "echo:u"


def test_unix_socket_left_by_a_killed_run_is_replaced(serve: ServeFn, tmp_path: Path) -> None:
    path = tmp_path / "stale.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))  # closed without unlink, as after a SIGKILL
    stale.close()
    s = serve(listen=f"unix://{path}")
    assert parse_msg(s.channel().unary_unary(f"/{SERVICE}/Echo")(msg("s"), timeout=30))[0] \
        == "echo:s"


@pytest.mark.parametrize("junk", [
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"\x00\xff" * 2000,
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\xde\xad\xbe\xef" * 100,
])
def test_hostile_bytes_leave_the_server_serving(serve: ServeFn, junk: bytes) -> None:
    s = serve()
    host, port = s.target.rsplit(":", 1)
    for _ in range(20):
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(junk)
            sock.settimeout(5)
            # an HTTP/2 GOAWAY or a close, never a hang (a timeout fails the test)
            with contextlib.suppress(ConnectionResetError):
                sock.recv(4096)
    assert parse_msg(s.call("Echo", msg("ok"))[0])[0] == "echo:ok"


def _start_fails(tmp_path: Path, cfg: str) -> str:
    rr = RRProcess(cfg, tmp_path)
    rr.start(wait=False)
    code = rr.wait(60)
    assert code != 0
    return rr.output


def test_proto_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    copy_protos(tmp_path)
    (tmp_path / "bad.proto").write_text('syntax = "proto3";\npackage x;\n\nservice S {\n'
                                        '  rpc M(A) returns (A)\n}\nmessage A {}\n')
    out = _start_fails(tmp_path, config(f"tcp://127.0.0.1:{free_port()}", rpc_port=free_port(),
                                        proto='["bad.proto"]'))
    assert "bad.proto:6:1: Expected \";\"" in out


@pytest.mark.parametrize(("grpc_extra", "proto", "listen", "expected"), [
    ("", '["missing.proto"]', None, "grpc.proto: proto file 'missing.proto' does not exists"),
    ("", '["test.proto"]', "localhost", "malformed grpc address, provided: localhost"),
    ("interceptors: [otel]\n", '["test.proto"]', None, "interceptor otel is not registered"),
    ("server: h2\n", '["test.proto"]', None,
     "grpc.server: expected one of native, grpcio, got 'h2'"),
    ("tls:\n  key: nokey.pem\n  cert: nocert.pem\n", '["test.proto"]', None,
     "key file 'nokey.pem' does not exists"),
    ("", '["sub/dup.proto", "test.proto"]', None,
     'duplicate service registration for "rc.test.v1.Test"'),
    ("", '["sub/dup.proto", "sub/dup2.proto"]', None,  # one protoc run: its own words
     '"rc.test.v1.Test" is already defined in file "dup.proto"'),
])
def test_config_errors(tmp_path: Path, grpc_extra: str, proto: str, listen: str | None,
                       expected: str) -> None:
    copy_protos(tmp_path)
    (tmp_path / "sub").mkdir()
    for name, message in (("dup.proto", "A"), ("dup2.proto", "B")):
        (tmp_path / "sub" / name).write_text(
            'syntax = "proto3";\npackage rc.test.v1;\n'
            f'service Test {{ rpc X({message}) returns ({message}); }}\n'
            f'message {message} {{}}\n')
    out = _start_fails(tmp_path, config(listen or f"tcp://127.0.0.1:{free_port()}",
                                        rpc_port=free_port(), proto=proto,
                                        grpc_extra=grpc_extra))
    assert expected in out


def test_globs_and_a_file_listed_twice(serve: ServeFn) -> None:
    s = serve(proto='["*.proto", "test.proto", "nothing/**/*.proto"]')
    assert parse_msg(s.call("Echo", msg("g"))[0])[0] == "echo:g"


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    copy_protos(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = _start_fails(tmp_path, config(f"tcp://127.0.0.1:{port}", rpc_port=free_port()))
    assert "grpc.listen: cannot listen on 127.0.0.1:" in out


def test_grpcio_front_serves_calls_health_and_reflection(serve: ServeFn) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    s = serve(grpc_extra="server: grpcio\n")
    ch = s.channel()
    body = ch.unary_unary(f"/{SERVICE}/Meta")(msg(), metadata=(("x-k", "v"),), timeout=30)
    ctx = json.loads(parse_msg(body)[0])
    assert ctx["x-k"] == ["v"] and ":authority" not in ctx  # grpcio hides it
    got = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert got.status == health_pb2.HealthCheckResponse.SERVING
    stub = reflection_pb2_grpc.ServerReflectionStub(ch)
    resp = next(iter(stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10)))
    assert SERVICE in {x.name for x in resp.list_services_response.service}


def test_native_front_passes_authority_like_grpc_go(serve: ServeFn) -> None:
    s = serve()
    body = s.call("Meta", msg())[0]
    assert json.loads(parse_msg(body)[0])[":authority"] == [s.target]
