"""HPACK for the native gRPC front: a real decoder with a per-connection cache in front
of it, and reply header blocks built from precomputed bytes.

Decoding: gRPC clients send the same request head on every call of a method, and after
the first call every field of it is an index into the dynamic table. Such a block does
not change the decoder's state, so the same bytes decode to the same headers for as
long as the table stays as it was. The cache keeps what was derived from a block only
while the table is unchanged (any insertion, eviction or size update clears it), which
makes it exact, not a heuristic.

Encoding: every reply field is a literal *without indexing* (RFC 7541 §6.2.2), never
Huffman-coded, so replies need no encoder state at all and the common blocks
(``:status 200`` + ``content-type``, ``grpc-status: 0``) are constants.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

import hpack
from hpack.table import HeaderTable

T = TypeVar("T")
MAX_CACHED = 256  # blocks per connection; a client that varies its heads gains nothing


def _int(value: int, prefix_bits: int, first: int = 0) -> bytes:
    """RFC 7541 §5.1 integer with an N-bit prefix; ``first`` holds the high bits."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes((first | value,))
    out = bytearray((first | limit,))
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def literal(name: bytes, value: bytes) -> bytes:
    """Literal header field without indexing, new name (``0000 0000``)."""
    return b"\x00" + _int(len(name), 7) + name + _int(len(value), 7) + value


def literal_indexed_name(index: int, value: bytes) -> bytes:
    """Literal without indexing whose name is static-table entry ``index``."""
    return _int(index, 4) + _int(len(value), 7) + value


STATUS = 8  # static-table name ":status"
STATUS_200 = b"\x88"  # static entry 8: ":status: 200"
CONTENT_TYPE = 31
RESPONSE_HEAD = STATUS_200 + literal_indexed_name(CONTENT_TYPE, b"application/grpc")
TRAILERS_OK = literal(b"grpc-status", b"0")
_STATUS_CODES = [literal(b"grpc-status", str(c).encode()) for c in range(17)]


def status_field(code: int) -> bytes:
    return _STATUS_CODES[code] if 0 <= code < 17 else literal(b"grpc-status", str(code).encode())


def percent_encode(message: str) -> bytes:
    """gRPC's grpc-message encoding: bytes outside printable ASCII, and ``%``, as %XX."""
    raw = message.encode("utf-8", "surrogateescape")
    if all(0x20 <= b <= 0x7E and b != 0x25 for b in raw):
        return raw
    return b"".join(bytes((b,)) if 0x20 <= b <= 0x7E and b != 0x25 else b"%%%02X" % b
                    for b in raw)


def metadata(pairs: Iterable[tuple[str, str | bytes]]) -> bytes:
    """Reply metadata as literals; ``-bin`` values are base64 without padding."""
    out = []
    for key, value in pairs:
        if key.endswith("-bin"):
            raw = value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")
            v = base64.b64encode(raw).rstrip(b"=")
        else:
            v = value.encode("latin-1") if isinstance(value, str) else value
        out.append(literal(key.encode("latin-1"), v))
    return b"".join(out)


def trailers(code: int, message: str, details: bytes = b"",
             extra: Iterable[tuple[str, str | bytes]] = ()) -> bytes:
    block = status_field(code)
    if message:
        block += literal(b"grpc-message", percent_encode(message))
    if details:
        block += literal(b"grpc-status-details-bin", base64.b64encode(details).rstrip(b"="))
    return block + metadata(extra)


def _state(t: HeaderTable) -> tuple[int, int, int, int]:
    entries = t.dynamic_entries
    return (len(entries), t._current_size, t._maxsize, id(entries[0]) if entries else 0)


class BlockDecoder(Generic[T]):
    """One connection's HPACK decoder; ``decode(block, parse)`` returns ``parse(headers)``,
    from the cache when the same block was seen in the current table state."""

    def __init__(self, max_header_list_size: int) -> None:
        self._decoder = hpack.Decoder(max_header_list_size=max_header_list_size)
        self._cache: dict[bytes, T] = {}

    def decode(self, block: bytes, parse: Callable[[list[tuple[bytes, bytes]]], T]) -> T:
        hit = self._cache.get(block)
        if hit is not None:
            return hit
        table = self._decoder.header_table
        before = _state(table)
        headers = self._decoder.decode(block, raw=True)
        result = parse(headers)  # type: ignore[arg-type]
        if _state(table) == before:
            if len(self._cache) >= MAX_CACHED:
                self._cache.clear()
            self._cache[block] = result
        elif self._cache:
            self._cache.clear()  # the indices the cached blocks used may mean other fields now
        return result
