"""Decoding the worker's response context (spec/http-payload.md §6.1-6.2).

JSON is what every roadrunner-http 3.x speaks in JSON mode; a frame flagged PROTO carries
``http.v1.Response``, decoded here by hand (two fields) to avoid a generated module.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from rr.goridge.frame import CODEC_PROTO


class ReplyError(Exception):
    pass


@dataclass(slots=True)
class Reply:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ReplyError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ReplyError("varint too long")


def _fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        num, wire = key >> 3, key & 7
        if wire == 0:
            val, pos = _varint(buf, pos)
            out.append((num, val))
        elif wire == 2:
            ln, pos = _varint(buf, pos)
            if pos + ln > len(buf):
                raise ReplyError("truncated field")
            out.append((num, buf[pos:pos + ln]))
            pos += ln
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ReplyError(f"unsupported wire type {wire}")
    return out


def decode_proto(buf: bytes) -> Reply:
    reply = Reply(status=0)
    for num, val in _fields(buf):
        if num == 1 and isinstance(val, int):
            reply.status = val - (1 << 64) if val >= 1 << 63 else val
        elif num == 2 and isinstance(val, bytes):
            name = ""
            values: list[str] = []
            for enum_, ev in _fields(val):
                if enum_ == 1 and isinstance(ev, bytes):
                    name = ev.decode("utf-8", "replace")
                elif enum_ == 2 and isinstance(ev, bytes):
                    values = [v.decode("utf-8", "replace") for n, v in _fields(ev)
                              if n == 1 and isinstance(v, bytes)]
            reply.headers.extend((name, v) for v in values)
    return reply


def decode_json(buf: bytes) -> Reply:
    try:
        data = json.loads(buf)
    except ValueError as e:
        raise ReplyError(f"invalid response context: {e}") from None
    if not isinstance(data, dict):
        raise ReplyError("invalid response context: not an object")
    status = data.get("status", 0)
    if isinstance(status, bool) or not isinstance(status, (int, float, str)):
        raise ReplyError(f"invalid status {status!r}")
    try:
        status = int(status)
    except ValueError:
        raise ReplyError(f"invalid status {status!r}") from None
    headers: list[tuple[str, str]] = []
    raw = data.get("headers")
    if isinstance(raw, dict):
        for name, values in raw.items():
            # lenient: a PHP user may pass a plain string to HttpWorker::respond
            if isinstance(values, list):
                headers.extend((str(name), _text(v)) for v in values)
            elif values is not None:
                headers.append((str(name), _text(values)))
    return Reply(status=status, headers=headers)


def _text(v: object) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def decode(context: bytes, flags: int) -> Reply:
    if flags & CODEC_PROTO:
        return decode_proto(context)
    return decode_json(context)
