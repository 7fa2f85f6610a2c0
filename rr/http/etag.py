"""Static-file ETags exactly as RoadRunner computes them (spec/http-payload.md §11.2).

RoadRunner builds its CRC table from the constant 0x48D90782 used as a *reflected*
polynomial — not a standard CRC-32 — so zlib.crc32 cannot be used; clients that cached an
ETag from RoadRunner keep validating against the same values.
"""

from __future__ import annotations

POLY = 0x48D90782


def _table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ POLY if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _table()


def crc(data: bytes, value: int = 0) -> int:
    c = value ^ 0xFFFFFFFF
    table = _TABLE
    for b in data:
        c = table[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def strong(content: bytes) -> str:
    return f'"{len(content)}-{crc(content)}"'


def weak(name: str) -> str:
    return f'W/"{crc(name.encode())}"'
