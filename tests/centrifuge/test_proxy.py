"""Proxy mode: a grpcio client plays Centrifugo against rr's CentrifugoProxy server, and
the PHP worker calls centrifuge.* which rr forwards to a stand-in API server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import grpc
import pytest

from rr.centrifuge.proto import api_pb2, proxy_pb2
from tests.centrifuge.conftest import CentrifugeRR, Start
from tests.grpc.certs import make as make_certs

pb: Any = proxy_pb2
api: Any = api_pb2
PROXY = "/centrifugal.centrifugo.proxy.CentrifugoProxy/"


def call(c: CentrifugeRR, method: str, req: Any, resp: Any, **kw: Any) -> Any:
    with grpc.insecure_channel(c.proxy) as ch:
        raw = ch.unary_unary(PROXY + method)(req.SerializeToString(), timeout=60, **kw)
    return resp.FromString(raw)


def common(m: Any) -> Any:
    m.client, m.transport, m.protocol, m.encoding = "c1", "websocket", "json", "json"
    return m


def rpc(c: CentrifugeRR, method: str, data: Any, **kw: Any) -> Any:
    req = common(pb.RPCRequest(user="u1", method=method, data=json.dumps(data).encode(),
                               meta=b'{"m":1}'))
    out = call(c, "RPC", req, pb.RPCResponse, **kw)
    assert out.HasField("result"), out
    return json.loads(out.result.data)


@pytest.fixture
def proxy_rr(start_rr: Start) -> CentrifugeRR:
    return start_rr()


def test_connect_result_and_rejections(proxy_rr: CentrifugeRR) -> None:
    req = common(pb.ConnectRequest(data=b'{"user":"42"}', name="js", version="5",
                                   channels=["a"]))
    out = call(proxy_rr, "Connect", req, pb.ConnectResponse)
    assert out.result.user == "42"
    assert json.loads(out.result.info) == {"name": "42"}
    assert json.loads(out.result.data) == {"hello": "42", "name": "js"}
    assert json.loads(out.result.meta) == {"m": "42"}
    refused = call(proxy_rr, "Connect", common(pb.ConnectRequest(data=b'{"reject":1}')),
                   pb.ConnectResponse)
    assert (refused.error.code, refused.error.message) == (4001, "go away")
    assert not refused.HasField("result")
    banned = call(proxy_rr, "Connect", common(pb.ConnectRequest(data=b'{"ban":1}')),
                  pb.ConnectResponse)
    assert (banned.disconnect.code, banned.disconnect.reason) == (4501, "banned")


def test_subscribe_publish_refresh_subrefresh(proxy_rr: CentrifugeRR) -> None:
    ok = call(proxy_rr, "Subscribe", common(pb.SubscribeRequest(user="u", channel="news")),
              pb.SubscribeResponse)
    assert json.loads(ok.result.info) == {"ch": "news"}
    no = call(proxy_rr, "Subscribe", common(pb.SubscribeRequest(user="u", channel="forbidden")),
              pb.SubscribeResponse)
    assert no.error.code == 103
    pub = call(proxy_rr, "Publish", common(pb.PublishRequest(channel="rewrite", data=b'{"a":1}')),
               pb.PublishResponse)
    assert json.loads(pub.result.data) == {"rewritten": {"a": 1}}
    ro = call(proxy_rr, "Publish", common(pb.PublishRequest(channel="readonly", data=b"{}")),
              pb.PublishResponse)
    assert ro.error.code == 103
    ref = call(proxy_rr, "Refresh", common(pb.RefreshRequest(user="u")), pb.RefreshResponse)
    assert ref.result.expire_at > 0 and json.loads(ref.result.info) == {"refreshed": "refresh"}
    sub = call(proxy_rr, "SubRefresh", common(pb.SubRefreshRequest(user="u", channel="x")),
               pb.SubRefreshResponse)
    # RoadRunner's spelling of the type PHP sees: subrefresh, no underscore
    assert json.loads(sub.result.info) == {"refreshed": "subrefresh"}


def test_rpc_sees_fields_headers_and_mode(proxy_rr: CentrifugeRR) -> None:
    echo = rpc(proxy_rr, "echo", {"x": 1})
    assert echo == {"data": {"x": 1}, "user": "u1", "type": "rpc", "meta": {"m": 1},
                    "client": "c1", "transport": "websocket", "protocol": "json"}
    headers = rpc(proxy_rr, "headers", {}, metadata=(("x-token", "abc"),))
    assert headers["type"] == ["rpc"] and headers["x-token"] == ["abc"]
    assert rpc(proxy_rr, "mode", {}) == {"mode": "centrifuge"}


def test_worker_failures_are_unknown_errors(proxy_rr: CentrifugeRR) -> None:
    with pytest.raises(grpc.RpcError) as e:
        rpc(proxy_rr, "fail", {})
    assert e.value.code() == grpc.StatusCode.UNKNOWN
    assert "rpc failed on purpose" in (e.value.details() or "")
    with pytest.raises(grpc.RpcError) as e:
        rpc(proxy_rr, "crash", {})
    assert e.value.code() == grpc.StatusCode.UNKNOWN
    # the crashed worker was replaced: the next call is served
    assert rpc(proxy_rr, "mode", {}) == {"mode": "centrifuge"}


def test_streams_and_notify_are_refused(proxy_rr: CentrifugeRR) -> None:
    with grpc.insecure_channel(proxy_rr.proxy) as ch, pytest.raises(grpc.RpcError) as e:
        ch.unary_unary(PROXY + "NotifyChannelState")(b"", timeout=30)
    assert e.value.details() == "not supported"


def test_php_publish_goes_to_the_api_server(proxy_rr: CentrifugeRR) -> None:
    proxy_rr.api.replies["Publish"] = api.PublishResponse(
        result=api.PublishResult(offset=7, epoch="ep")).SerializeToString()
    out = rpc(proxy_rr, "publish", {"channel": "news", "message": {"t": "hi"}, "skip": True})
    assert api.PublishResult.FromString(bytes.fromhex(out["result"])).offset == 7
    method, body, md = proxy_rr.api.calls[-1]
    req = api.PublishRequest.FromString(body)
    assert method == "Publish"
    assert (req.channel, json.loads(req.data), req.skip_history) == ("news", {"t": "hi"}, True)
    assert "authorization" not in md  # RoadRunner sends no API key


def test_api_errors_reach_php(proxy_rr: CentrifugeRR) -> None:
    proxy_rr.api.replies["Disconnect"] = api.DisconnectResponse(
        error=api.Error(code=102, message="unknown channel")).SerializeToString()
    body = api.DisconnectRequest(user="bob").SerializeToString().hex()
    out = rpc(proxy_rr, "api", {"method": "Disconnect", "body": body})
    assert out == {"error": "unknown channel", "code": 102}
    proxy_rr.api.stop()  # Centrifugo down: the gRPC error text reaches PHP
    out = rpc(proxy_rr, "api", {"method": "Info", "body": ""})
    assert "rpc error: code = Unavailable" in out["error"]


def test_api_over_tls_with_a_client_certificate(start_rr: Start, tmp_path: Path) -> None:
    """``centrifuge.tls``: rr dials Centrifugo's API over TLS with the key pair as its
    client certificate and verifies the server against the roots (here the test CA, put
    in place of the system roots through gRPC's own root-file variable)."""
    certs = make_certs(tmp_path)
    creds = grpc.ssl_server_credentials(
        [(certs.server_key.read_bytes(), certs.server_cert.read_bytes())],
        root_certificates=certs.ca.read_bytes(), require_client_auth=True)
    c = start_rr(extra=f"  tls:\n    key: {certs.client_key}\n    cert: {certs.client_cert}\n",
                 env={"GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": str(certs.ca)},
                 api_credentials=creds)
    c.api.replies["Publish"] = api.PublishResponse(
        result=api.PublishResult(offset=9)).SerializeToString()
    out = rpc(c, "publish", {"channel": "tls", "message": {"t": 1}})
    assert api.PublishResult.FromString(bytes.fromhex(out["result"])).offset == 9
    assert [m for m, _, _ in c.api.calls] == ["Publish"]
    # the same server refuses a client without the certificate: rr's pair is what passed
    with grpc.secure_channel(f"127.0.0.1:{c.api.port}", grpc.ssl_channel_credentials(
            certs.ca.read_bytes())) as ch, pytest.raises(grpc.RpcError):
        ch.unary_unary("/centrifugal.centrifugo.api.CentrifugoApi/Info")(b"", timeout=30)
