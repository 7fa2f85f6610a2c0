"""Reading and classifying the request body (spec/http-payload.md §5.1, §7)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from rr.http import multipart
from rr.http.formtree import build_tree
from rr.http.uploads import UploadsConfig, build_uploads

TOO_LARGE = "serve_http: http: request body too large\n"
_FORM_METHODS = frozenset({"POST", "PUT", "PATCH"})
_dumps = json.JSONEncoder(separators=(",", ":")).encode


class BodyTooLarge(Exception):
    pass


class BodyParseError(Exception):
    pass


async def read_limited(request: web.BaseRequest, limit: int) -> bytes:
    """The whole body, refusing more than ``limit`` bytes before reading past it."""
    if not request.body_exists:
        return b""
    length = request.content_length
    if length is not None and length > limit:
        raise BodyTooLarge()
    content = request.content
    if length is not None:
        data = await content.readexactly(length) if length else b""
        return data
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await content.readany()
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


def parse_urlencoded(body: bytes, method: str) -> bytes:
    if method not in _FORM_METHODS:
        return b"{}"
    try:
        pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        return _dumps(build_tree(pairs)).encode()
    except Exception as e:  # noqa: BLE001 - any tree error is the client's fault
        raise BodyParseError(str(e)) from None


def parse_multipart(body: bytes, content_type: str, uploads: UploadsConfig,
                    created: list[str]) -> tuple[bytes, dict[str, Any]]:
    try:
        parts = multipart.parse(body, multipart.boundary_of(content_type))
        fields = [(p.name, p.data.decode("utf-8", "replace")) for p in parts if not p.filename]
        files = [p for p in parts if p.filename]
        tree = build_tree(fields)
        files_tree = build_uploads(files, uploads, created) if files else {}
    except Exception as e:  # noqa: BLE001
        raise BodyParseError(str(e)) from None
    return _dumps(tree).encode(), files_tree
