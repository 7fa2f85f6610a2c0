"""Protobuf framing on the built-in endpoint (spec §B.2): the official Python client with
``use_protobuf=True`` next to JSON clients on the same channels, and a raw socket for
the framing itself (several varint-delimited messages per frame, corrupt frames)."""

from __future__ import annotations

import asyncio
import json
import signal
from typing import Any

import pytest
from centrifuge import Client, ReplyError
from centrifuge.protocol import client_pb2 as proto
from google.protobuf.internal.decoder import _DecodeVarint
from google.protobuf.internal.encoder import _VarintBytes

from tests.centrifuge.conftest import CentrifugeRR, Start
from tests.centrifuge.rawws import RawWS
from tests.centrifuge.test_websocket import Inbox, clients  # noqa: F401 - fixture

WS_EXTRA = "    history_size: 100\n    presence: true\n"


@pytest.fixture
def ws_rr(start_rr: Start) -> CentrifugeRR:
    return start_rr(ws=True, ws_extra=WS_EXTRA)


def enc(value: Any) -> bytes:
    """Protobuf clients carry payloads as bytes; PHP reads them as JSON."""
    return json.dumps(value).encode()


def dec(value: Any) -> Any:
    return json.loads(value) if isinstance(value, bytes) else value


async def connect(c: CentrifugeRR, data: Any, protobuf: bool = True) -> Client:
    cl = Client(c.ws_url, data=enc(data) if protobuf else data, timeout=30, proxy=None,
                use_protobuf=protobuf)
    await cl.connect()
    await cl.ready(timeout=30)
    return cl


async def test_protobuf_client_through_php(ws_rr: CentrifugeRR,
                                           clients: list[Client]) -> None:  # noqa: F811
    pb = await connect(ws_rr, {"user": "pat"})
    js = await connect(ws_rr, {"user": "jay"}, protobuf=False)
    clients += [pb, js]
    echo = dec((await pb.rpc("echo", enc({"q": 1}))).data)
    assert echo["data"] == {"q": 1} and echo["user"] == "pat"
    assert echo["protocol"] == "protobuf" and echo["meta"] == {"m": "pat"}
    assert (await js.rpc("echo", {})).data["protocol"] == "json"
    with pytest.raises(ReplyError) as e:
        await pb.rpc("nope", enc({}))
    assert e.value.code == 104
    inbox_pb, inbox_js = Inbox(), Inbox()
    sub_pb = pb.new_subscription("mixed", inbox_pb)
    sub_js = js.new_subscription("mixed", inbox_js)
    for s in (sub_pb, sub_js):
        await s.subscribe()
        await s.ready(30)
    # one publication reaches both framings, with the publisher's info
    await sub_pb.publish(enc({"from": "pb"}))
    await sub_js.publish({"from": "js"})
    for inbox in (inbox_pb, inbox_js):
        got = [await asyncio.wait_for(inbox.pubs.get(), 30) for _ in range(2)]
        assert [dec(p.data) for p in got] == [{"from": "pb"}, {"from": "js"}]
        assert got[0].info.user == "pat" and dec(got[0].info.conn_info) == {"name": "pat"}
    presence = await sub_pb.presence()
    assert sorted(i.user for i in presence.clients.values()) == ["jay", "pat"]
    history = await sub_pb.history(limit=10)
    assert [dec(p.data) for p in history.publications] == [{"from": "pb"}, {"from": "js"}]
    # PHP publishing through centrifuge.Publish reaches the protobuf client too
    await js.rpc("publish", {"channel": "mixed", "message": {"from": "php"}})
    assert dec((await asyncio.wait_for(inbox_pb.pubs.get(), 30)).data) == {"from": "php"}
    with pytest.raises(ReplyError) as e:
        await pb.publish("readonly:x", enc({"a": 1}))
    assert e.value.code == 103


def frame(*commands: Any) -> bytes:
    out = b""
    for c in commands:
        body = c.SerializeToString()
        out += _VarintBytes(len(body)) + body
    return out


def replies(data: bytes) -> list[Any]:
    out, pos = [], 0
    while pos < len(data):
        size, pos = _DecodeVarint(data, pos)
        r = proto.Reply()
        r.ParseFromString(data[pos:pos + size])
        pos += size
        out.append(r)
    return out


def read_replies(ws: RawWS, n: int) -> list[Any]:
    got: list[Any] = []
    while len(got) < n:
        got += replies(ws.data(2))
    return got


CONNECT = proto.Command(id=1, connect=proto.ConnectRequest(data=b'{"user":"raw"}'))


@pytest.mark.parametrize("how", ["subprotocol", "query"])
def test_several_commands_per_frame(ws_rr: CentrifugeRR, how: str) -> None:
    ws = RawWS(ws_rr.ws_port, protocol="centrifuge-protobuf") if how == "subprotocol" \
        else RawWS(ws_rr.ws_port, path="/connection/websocket?format=protobuf")
    assert ws.status == 101
    if how == "subprotocol":
        assert "Sec-WebSocket-Protocol: centrifuge-protobuf" in ws.head
    ws.send(frame(CONNECT,
                  proto.Command(id=2, subscribe=proto.SubscribeRequest(channel="raw")),
                  proto.Command(id=3, rpc=proto.RPCRequest(method="echo", data=b'{"x":1}'))),
            opcode=2)
    got = read_replies(ws, 3)
    assert [r.id for r in got] == [1, 2, 3]
    assert got[0].connect.client and got[0].connect.pong
    assert got[0].connect.data == b'{"hello":"raw","name":""}'
    assert got[1].subscribe.data == b'{"welcome":"raw"}'
    assert b'"protocol":"protobuf"' in got[2].rpc.data
    ws.close()


@pytest.mark.parametrize("data", [
    b"\x05ab",  # length beyond the frame
    b"\x03\xff\xff\xff",  # not a Command
    b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",  # broken varint
    b"",
])
def test_corrupt_protobuf_frame_is_3501(ws_rr: CentrifugeRR, data: bytes) -> None:
    ws = RawWS(ws_rr.ws_port, protocol="centrifuge-protobuf")
    ws.send(frame(CONNECT), opcode=2)
    assert read_replies(ws, 1)[0].connect.client
    ws.send(data, opcode=2)
    assert ws.close_code() == (3501, "bad request")
    ws.close()
    again = RawWS(ws_rr.ws_port, protocol="centrifuge-protobuf")
    again.send(frame(CONNECT), opcode=2)
    assert read_replies(again, 1)[0].connect.client
    again.close()


def test_protobuf_error_reply_and_bad_first_command(ws_rr: CentrifugeRR) -> None:
    ws = RawWS(ws_rr.ws_port, protocol="centrifuge-protobuf")
    ws.send(frame(proto.Command(id=1, connect=proto.ConnectRequest(
        data=b'{"reject":true}'))), opcode=2)
    err = read_replies(ws, 1)[0]
    assert (err.id, err.error.code, err.error.message) == (1, 4001, "go away")
    ws.close()
    ws = RawWS(ws_rr.ws_port, protocol="centrifuge-protobuf")
    ws.send(frame(proto.Command(id=1, subscribe=proto.SubscribeRequest(channel="a"))),
            opcode=2)
    assert ws.close_code() == (3501, "bad request")
    ws.close()


def test_protobuf_pings_pong_timeout_and_sigterm(start_rr: Start) -> None:
    c = start_rr(ws=True, ws_extra="    ping_interval: 1s\n    pong_timeout: 1s\n")
    ws = RawWS(c.ws_port, protocol="centrifuge-protobuf")
    ws.send(frame(CONNECT), opcode=2)
    assert read_replies(ws, 1)[0].connect.ping == 1
    assert ws.data(2) == b"\x00"  # a ping: one zero-length Reply
    ws.send(b"\x00", opcode=2)  # the pong: one zero-length Command
    assert ws.data(2) == b"\x00"
    assert ws.close_code() == (3012, "no pong")  # the second ping went unanswered
    ws.close()
    live = RawWS(c.ws_port, protocol="centrifuge-protobuf")
    live.send(frame(CONNECT), opcode=2)
    assert read_replies(live, 1)[0].connect.client
    c.rr.signal(signal.SIGTERM)
    assert live.close_code() == (3001, "shutdown")
    assert c.rr.wait(60) == 0
