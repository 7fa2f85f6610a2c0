"""A small multipart/form-data splitter working on the already size-limited body.

The body was read under ``max_request_size`` before parsing, so working on bytes in memory
is bounded by that limit (RoadRunner spills parts over 32 MiB to disk; we do not).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class MultipartError(Exception):
    pass


@dataclass(slots=True)
class Part:
    name: str
    filename: str | None
    content_type: str
    data: bytes


_PARAM = re.compile(r';\s*([A-Za-z0-9_*-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


def header_params(value: str) -> tuple[str, dict[str, str]]:
    """``form-data; name="a"; filename="b.txt"`` -> ("form-data", {...})."""
    main, _, _ = value.partition(";")
    params: dict[str, str] = {}
    for m in _PARAM.finditer(value):
        raw = m.group(2).strip()
        if len(raw) >= 2 and raw[0] == '"' and raw[-1] == '"':
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        params[m.group(1).lower()] = raw
    return main.strip().lower(), params


def boundary_of(content_type: str) -> str:
    _, params = header_params(content_type)
    boundary = params.get("boundary", "")
    if not boundary:
        raise MultipartError("no multipart boundary param in Content-Type")
    return boundary


def parse(body: bytes, boundary: str) -> list[Part]:
    delim = b"--" + boundary.encode("latin-1")
    start = body.find(delim)
    if start < 0:
        raise MultipartError("multipart: NextPart: EOF")
    parts: list[Part] = []
    pos = start + len(delim)
    while True:
        if body[pos:pos + 2] == b"--":
            return parts
        if body[pos:pos + 2] == b"\r\n":
            pos += 2
        elif body[pos:pos + 1] == b"\n":
            pos += 1
        else:
            raise MultipartError("multipart: NextPart: EOF")
        head_end = body.find(b"\r\n\r\n", pos)
        sep_len = 4
        if head_end < 0:
            raise MultipartError("multipart: NextPart: EOF")
        end = body.find(b"\r\n" + delim, head_end + sep_len)
        if end < 0:
            raise MultipartError("multipart: NextPart: EOF")
        headers: dict[str, str] = {}
        for line in body[pos:head_end].split(b"\r\n"):
            if not line:
                continue
            k, _, v = line.decode("utf-8", "replace").partition(":")
            headers[k.strip().lower()] = v.strip()
        disp, params = header_params(headers.get("content-disposition", ""))
        if disp == "form-data" and "name" in params:
            parts.append(Part(name=params["name"], filename=params.get("filename"),
                              content_type=headers.get("content-type", ""),
                              data=body[head_end + sep_len:end]))
        pos = end + 2 + len(delim)
