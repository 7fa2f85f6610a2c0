"""The pure parts of the native front: reply header blocks (checked with a real HPACK
decoder), the decode cache, grpc-timeout, decompression limits."""

from __future__ import annotations

import gzip

import hpack
import pytest

from rr.grpc import h2wire as w
from rr.grpc.h2stream import decompress, parse_timeout
from rr.grpc.hpack_cache import (
    RESPONSE_HEAD,
    BlockDecoder,
    metadata,
    percent_encode,
    trailers,
)
from rr.grpc.status import INTERNAL, RESOURCE_EXHAUSTED, UNIMPLEMENTED, Failure


def _decode(block: bytes) -> list[tuple[str, str]]:
    return [(k, v) for k, v in hpack.Decoder().decode(block)]


def test_reply_blocks_decode_with_a_real_decoder_and_need_no_table() -> None:
    block = RESPONSE_HEAD + metadata([("x-a", "1"), ("x-raw-bin", b"\x00\xff")])
    assert _decode(block) == [(":status", "200"), ("content-type", "application/grpc"),
                              ("x-a", "1"), ("x-raw-bin", "AP8")]
    long = "m" * 300  # lengths past the 7-bit prefix
    assert _decode(trailers(3, long, b"\x08\x03", [("t", "2")])) == [
        ("grpc-status", "3"), ("grpc-message", long),
        ("grpc-status-details-bin", "CAM"), ("t", "2")]
    d = hpack.Decoder()
    d.decode(trailers(0, ""))
    assert len(d.header_table.dynamic_entries) == 0  # literals without indexing


def test_grpc_message_percent_encoding() -> None:
    assert percent_encode("plain text") == b"plain text"
    assert percent_encode("50% ü\n") == b"50%25 %C3%BC%0A"


def test_decode_cache_is_exact_across_table_changes() -> None:
    enc = hpack.Encoder()
    mirror = hpack.Decoder()  # decodes every block for real, to compare with
    dec: BlockDecoder[tuple[tuple[bytes, bytes], ...]] = BlockDecoder(65536)
    calls = []

    def parse(fields: list[tuple[bytes, bytes]]) -> tuple[tuple[bytes, bytes], ...]:
        calls.append(1)
        return tuple(fields)

    def both(block: bytes) -> tuple[tuple[bytes, bytes], ...]:
        got = dec.decode(block, parse)
        assert got == tuple(mirror.decode(block, raw=True))
        return got

    first = enc.encode([(":path", "/a"), ("x", "1")])
    assert both(first) == ((b":path", b"/a"), (b"x", b"1"))
    again = enc.encode([(":path", "/a"), ("x", "1")])  # now all indexed
    both(again)
    both(again)
    assert len(calls) == 2  # the repeated block came from the cache
    other = enc.encode([(":path", "/b"), ("y", "2")])  # inserts: the indices shift
    assert both(other) == ((b":path", b"/b"), (b"y", b"2"))
    both(again)  # the same bytes mean other fields now: decoded again, not cached
    assert len(calls) == 4


@pytest.mark.parametrize(("value", "seconds"), [
    (b"1S", 1.0), (b"250m", 0.25), (b"2M", 120.0), (b"1H", 3600.0), (b"5000u", 0.005),
    (b"x", None), (b"123456789S", None), (b"10Q", None), (b"S", None)])
def test_grpc_timeout(value: bytes, seconds: float | None) -> None:
    assert parse_timeout(value) == seconds


def test_decompress_limits_and_unknown_encodings() -> None:
    assert decompress(b"gzip", gzip.compress(b"a" * 100), 100) == b"a" * 100
    for encoding, data, limit, code in [(b"gzip", gzip.compress(b"a" * 101), 100,
                                         RESOURCE_EXHAUSTED),
                                        (b"gzip", b"not gzip", 100, INTERNAL),
                                        (b"", b"x", 100, INTERNAL),
                                        (b"snappy", b"x", 100, UNIMPLEMENTED)]:
        with pytest.raises(Failure) as info:
            decompress(encoding, data, limit)
        assert info.value.code == code


def test_headers_split_into_continuation_frames() -> None:
    out = w.headers(1, b"x" * 40000, True, 16384)
    assert [out[3], out[9 + 16384 + 3], out[2 * (9 + 16384) + 3]] == \
        [w.HEADERS, w.CONTINUATION, w.CONTINUATION]
    assert out[4] == w.END_STREAM and out[2 * (9 + 16384) + 4] == w.END_HEADERS
