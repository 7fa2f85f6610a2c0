"""goridge frame codec: the spec's worked examples as vectors, plus property tests."""

from __future__ import annotations

import struct
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rr.goridge import frame as fr
from rr.goridge.frame import Frame, FrameError, FrameParser
from rr.goridge.rpc import encode_reply, encode_request, request_codec

H = bytes.fromhex


# spec/goridge.md §8 and spec/worker-protocol.md §10
VECTORS = [
    ("rpc informer.List(true)", encode_request(1, "informer.List", b"true"),
     H("15 08 11 00 00 00 b0 49 0c 3a 00 00 01 00 00 00 0d 00 00 00") + b"informer.Listtrue"),
    ("rpc reply [\"http\"]", encode_reply(1, b"informer.List", b'["http"]', fr.CODEC_JSON),
     H("15 08 15 00 00 00 e7 de 6e b5 00 00 01 00 00 00 0d 00 00 00")
     + b'informer.List["http"]'),
    ("rpc error reply", encode_reply(1, b"informer.List", b"some error", fr.CODEC_JSON, True),
     H("15 48 17 00 00 00 25 4e 94 47 00 00 01 00 00 00 0d 00 00 00")
     + b"informer.Listsome error"),
    ("metrics.Add", encode_request(
        1, "metrics.Add", b'{"name":"app_hits","value":1,"labels":["home"]}'),
     H("15 08 3a 00 00 00 8f 61 3f 4d 00 00 01 00 00 00 0b 00 00 00")
     + b'metrics.Add{"name":"app_hits","value":1,"labels":["home"]}'),
    ("empty frame", fr.encode(), H("13 00 00 00 00 00 96 d1 80 34 00 00")),
    ("stream STOP", fr.encode(b"", 0, (), fr.STOP), H("13 00 00 00 00 00 96 d1 80 34 02 00")),
    ("PONG", fr.encode(b"", 0, (), fr.PONG), H("13 00 00 00 00 00 96 d1 80 34 08 00")),
    ("raw hello", fr.encode(b"hello", fr.CODEC_RAW),
     H("13 04 05 00 00 00 64 87 de f6 00 00") + b"hello"),
    ("F1 pid request", fr.encode(b'{"pid":4242}', fr.CONTROL | fr.CODEC_JSON),
     H("13 09 0c 00 00 00 5f 0c 46 73 00 00") + b'{"pid":4242}'),
    ("F2 pid reply", fr.encode(b'{"pid":31337}', fr.CONTROL),
     H("13 01 0d 00 00 00 fb 20 8a fb 00 00") + b'{"pid":31337}'),
    ("F7 stop", fr.encode(b'{"stop":true}', fr.CONTROL | fr.CODEC_JSON),
     H("13 09 0d 00 00 00 3a 6b fa cb 00 00") + b'{"stop":true}'),
    ("F6 worker stop", fr.encode_payload(b'{"stop":true}', b""),
     H("14 00 0d 00 00 00 f3 39 ef db 00 00 0d 00 00 00") + b'{"stop":true}'),
    ("F5 error", fr.encode(b"boom", fr.ERROR),
     H("13 40 04 00 00 00 88 1e 11 e3 00 00") + b"boom"),
    ("F3 request", fr.encode_payload(b'{"a":1}', b"hello", fr.CODEC_JSON),
     H("14 08 0c 00 00 00 57 15 23 53 00 00 07 00 00 00") + b'{"a":1}hello'),
]


@pytest.mark.parametrize(("name", "got", "want"), VECTORS, ids=[v[0] for v in VECTORS])
def test_spec_vectors(name: str, got: bytes, want: bytes) -> None:
    assert got == want
    f, used = fr.decode(want)
    assert used == len(want)
    assert f.encode() == want


def test_payload_frame_splits_context_and_body() -> None:
    f, _ = fr.decode(fr.encode_payload(b"ctx", b"body", fr.CODEC_JSON, fr.STREAM))
    assert f.options == (3,) and f.payload == b"ctxbody"
    assert f.flags == fr.CODEC_JSON and f.byte10 == fr.STREAM


def test_request_codec_precedence() -> None:
    assert request_codec(fr.CODEC_PROTO | fr.CODEC_JSON) == fr.CODEC_PROTO
    assert request_codec(fr.CODEC_JSON | fr.CODEC_RAW) == fr.CODEC_JSON
    assert request_codec(fr.CODEC_RAW | fr.CODEC_MSGPACK) == fr.CODEC_RAW
    assert request_codec(fr.CODEC_MSGPACK) == fr.CODEC_MSGPACK
    assert request_codec(0) == fr.CODEC_GOB


def test_bad_headers_are_rejected() -> None:
    good = fr.encode(b"x", fr.CODEC_RAW)
    with pytest.raises(FrameError, match="stdout-crc"):
        fr.decode_header(good[:6] + b"\0\0\0\0" + good[10:12])
    with pytest.raises(FrameError, match="file not found"):
        fr.decode_header(b"Could not open input file: x.php\n")
    for hl in (0, 1, 2, 14, 15):
        head = struct.pack("<BBI", 0x10 | hl, 0, 0)
        bad = head + struct.pack("<IBB", zlib.crc32(head), 0, 0)
        with pytest.raises(FrameError):
            fr.decode_header(bad)
    with pytest.raises(FrameError):
        fr.encode(b"", 0, tuple(range(11)))
    with pytest.raises(ValueError):
        fr.decode(good[:-1])


frames = st.builds(
    Frame,
    flags=st.integers(0, 255),
    payload=st.binary(max_size=2048),
    options=st.lists(st.integers(0, 2**32 - 1), max_size=10).map(tuple),
    byte10=st.integers(0, 255),
)


@given(frames)
def test_round_trip(f: Frame) -> None:
    data = f.encode()
    assert len(data) == 12 + 4 * len(f.options) + len(f.payload)
    g, used = fr.decode(data)
    assert used == len(data)
    assert (g.flags, g.payload, g.options, g.byte10) == (f.flags, f.payload, f.options,
                                                         f.byte10)


@given(st.lists(frames, min_size=1, max_size=8), st.lists(st.integers(1, 64), max_size=30))
def test_parser_reassembles_any_chunking(fs: list[Frame], cuts: list[int]) -> None:
    stream = b"".join(f.encode() for f in fs)
    parser = FrameParser()
    out: list[Frame] = []
    pos = 0
    for c in cuts:
        out += parser.feed(stream[pos:pos + c])
        pos += c
    out += parser.feed(stream[pos:])
    assert [(f.flags, f.payload, f.options, f.byte10) for f in out] == \
        [(f.flags, f.payload, f.options, f.byte10) for f in fs]
    assert parser.pending == b""


@given(st.binary(min_size=12, max_size=64))
def test_garbage_never_passes_silently(data: bytes) -> None:
    """Random bytes either fail the header check or form a CRC-valid header."""
    head = data[:12]
    hl = head[0] & 0x0F
    crc_ok = zlib.crc32(head[:6]) == struct.unpack_from("<I", head, 6)[0]
    try:
        fr.decode_header(head)
    except FrameError:
        assert not (crc_ok and 3 <= hl <= 13) or head == b"Could not op"
    else:
        assert crc_ok and 3 <= hl <= 13
