"""The two framings in process (rr.centrifuge.codec), checked against the official
client's own generated protocol (centrifuge-python's client_pb2): same field numbers,
opaque bytes, several messages per frame, and every corrupt frame refused."""

from __future__ import annotations

import pytest
from centrifuge.protocol import client_pb2 as official
from google.protobuf.internal.decoder import _DecodeVarint
from google.protobuf.internal.encoder import _VarintBytes

from rr.centrifuge.codec import JSON, PROTOBUF, BadFrame


def test_commands_decode_like_json_dicts() -> None:
    cmds = [official.Command(id=1, connect=official.ConnectRequest(
                token="t", data=b"\x00raw", name="python",
                subs={"a": official.SubscribeRequest(recover=True, offset=3, epoch="e")})),
            official.Command(id=2, unsubscribe=official.UnsubscribeRequest()),
            official.Command()]  # a pong
    frame = b"".join(_VarintBytes(c.ByteSize()) + c.SerializeToString() for c in cmds)
    assert PROTOBUF.decode(frame) == [
        {"id": 1, "connect": {"token": "t", "data": b"\x00raw", "name": "python",
                              "subs": {"a": {"recover": True, "epoch": "e", "offset": 3}}}},
        {"id": 2, "unsubscribe": {}},
        {}]


def test_replies_encode_for_the_official_client() -> None:
    reply = {"id": 7, "connect": {"client": "c", "data": {"a": 1}, "ping": 25, "pong": True,
                                  "subs": {"s": {"publications": [
                                      {"data": b"\xffbin", "info": {"user": "u",
                                                                    "conn_info": {"n": 1}},
                                       "tags": {"k": "v"}}]}}}}
    data = PROTOBUF.encode(reply)
    size, pos = _DecodeVarint(data, 0)
    assert pos + size == len(data)
    got = official.Reply.FromString(data[pos:])
    assert got.id == 7 and got.connect.data == b'{"a":1}' and got.connect.pong
    pub = got.connect.subs["s"].publications[0]
    assert pub.data == b"\xffbin" and pub.info.conn_info == b'{"n":1}'
    assert dict(pub.tags) == {"k": "v"}
    assert PROTOBUF.encode({}) == b"\x00"  # the ping


def test_json_embeds_bytes_payloads() -> None:
    assert JSON.encode({"pub": {"data": b'{"x":1}', "info": b"not json"}}) == \
        b'{"pub":{"data":{"x":1},"info":"not json"}}'
    assert JSON.decode('{"id":1}\n{"id":2}\n') == [{"id": 1}, {"id": 2}]


@pytest.mark.parametrize("frame", [b"", b"\x05ab", b"\x03\xff\xff\xff", b"\xff" * 11,
                                   b"\x02\x08"])
def test_corrupt_protobuf_frames(frame: bytes) -> None:
    with pytest.raises(BadFrame):
        PROTOBUF.decode(frame)


@pytest.mark.parametrize("text", ["", "nope", "[1]", '{"id":1}\n\n{"id":2}'])
def test_bad_json_frames(text: str) -> None:
    with pytest.raises(BadFrame):
        JSON.decode(text)
