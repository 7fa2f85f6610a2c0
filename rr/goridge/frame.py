"""Goridge frame codec (spec/goridge.md).

Encoding is one bytes object per frame so that every frame leaves in ONE write:
PHP's StreamRelay reads the 12-byte header with a single fread and dies on a short read.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

# flags (byte 1)
CONTROL = 0x01
CODEC_RAW = 0x04
CODEC_JSON = 0x08
CODEC_MSGPACK = 0x10
CODEC_GOB = 0x20
ERROR = 0x40
CODEC_PROTO = 0x80

# byte 10
STREAM = 0x01
STOP = 0x02
PING = 0x04
PONG = 0x08

HEADER_SIZE = 12
MAX_OPTIONS = 10

_HEAD = struct.Struct("<BBI")
_TAIL = struct.Struct("<IBB")
_U32 = struct.Struct("<I")
_CRC_FAIL = (
    "validation failed on the message sent to STDOUT, "
    "see: https://docs.roadrunner.dev/error-codes/stdout-crc, invalid message: "
)


class FrameError(Exception):
    """The byte stream is not a valid goridge frame; the stream is desynchronised."""


@dataclass(slots=True)
class Frame:
    flags: int = 0
    payload: bytes = b""
    options: tuple[int, ...] = ()
    byte10: int = 0

    def encode(self) -> bytes:
        return encode(self.payload, self.flags, self.options, self.byte10)


def encode(payload: bytes = b"", flags: int = 0, options: tuple[int, ...] | list[int] = (),
           byte10: int = 0) -> bytes:
    """Build a whole frame (header, options, payload) as one bytes object."""
    n = len(options)
    if n > MAX_OPTIONS:
        raise FrameError(f"too many options: {n} (max {MAX_OPTIONS})")
    head = _HEAD.pack(0x10 | (3 + n), flags, len(payload))
    parts = [head, _TAIL.pack(zlib.crc32(head), byte10, 0)]
    for opt in options:
        parts.append(_U32.pack(opt))
    parts.append(payload)
    return b"".join(parts)


def encode_payload(context: bytes, body: bytes, flags: int = 0, byte10: int = 0) -> bytes:
    """A worker payload frame: options [len(context)], payload context||body."""
    head = _HEAD.pack(0x14, flags, len(context) + len(body))
    return b"".join((head, _TAIL.pack(zlib.crc32(head), byte10, 0), _U32.pack(len(context)),
                     context, body))


@dataclass(slots=True)
class Header:
    """A decoded 12-byte header, before options and payload are read."""

    hl: int
    flags: int
    length: int
    byte10: int

    @property
    def options_size(self) -> int:
        return (self.hl - 3) * 4


def _bad_header(data: bytes | bytearray | memoryview) -> FrameError:
    head = bytes(data[:12])
    if head == b"Could not op":
        return FrameError("file not found: " + bytes(data).decode("utf-8", "replace"))
    return FrameError(_CRC_FAIL + head.decode("utf-8", "replace"))


def decode_header(data: bytes | bytearray | memoryview) -> Header:
    """Validate and decode the first 12 bytes of a frame."""
    if len(data) < HEADER_SIZE:
        raise FrameError("incomplete frame header")
    hl = data[0] & 0x0F
    if zlib.crc32(data[:6]) != _U32.unpack_from(data, 6)[0] or hl < 3 or hl > 3 + MAX_OPTIONS:
        raise _bad_header(data)
    return Header(hl, data[1], _U32.unpack_from(data, 2)[0], data[10])


def decode_options(data: bytes | bytearray | memoryview, count: int) -> tuple[int, ...]:
    return struct.unpack_from(f"<{count}I", data, 0) if count else ()


def decode(data: bytes) -> tuple[Frame, int]:
    """Decode one frame from the start of ``data``; returns (frame, bytes consumed).

    Raises FrameError on a bad header and ValueError when ``data`` is incomplete.
    """
    h = decode_header(data)
    end_opts = HEADER_SIZE + h.options_size
    end = end_opts + h.length
    if len(data) < end:
        raise ValueError("incomplete frame")
    opts = decode_options(memoryview(data)[HEADER_SIZE:end_opts], h.hl - 3)
    return Frame(h.flags, bytes(data[end_opts:end]), opts, h.byte10), end


class FrameParser:
    """Incremental parser: feed bytes as they arrive, collect whole frames.

    Used by the asyncio protocols on pipes and sockets so that no StreamReader
    (and no per-frame coroutine switch) sits on the hot path.
    """

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        buf = self._buf
        if buf:
            buf += data
            data = bytes(buf)
            buf.clear()
        frames: list[Frame] = []
        pos = 0
        n = len(data)
        view = memoryview(data)
        crc32 = zlib.crc32
        u32 = _U32.unpack_from
        while n - pos >= HEADER_SIZE:
            # inline decode_header: this loop runs for every frame on every worker
            hl = data[pos] & 0x0F
            if crc32(view[pos:pos + 6]) != u32(data, pos + 6)[0] or hl < 3 \
                    or hl > 3 + MAX_OPTIONS:
                raise _bad_header(view[pos:])
            end_opts = pos + hl * 4
            end = end_opts + u32(data, pos + 2)[0]
            if end > n:
                break
            opts = (u32(data, pos + 12)[0],) if hl == 4 else \
                decode_options(view[pos + HEADER_SIZE:end_opts], hl - 3)
            frames.append(Frame(data[pos + 1], data[end_opts:end], opts, data[pos + 10]))
            pos = end
        if pos < n:
            buf += view[pos:]
        return frames

    @property
    def pending(self) -> bytes:
        return bytes(self._buf)
