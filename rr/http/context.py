"""Building the JSON request context (spec/http-payload.md §2).

This runs once per request, so it avoids aiohttp's convenience properties where they
cost (multidict views, URL objects) and works on the raw header list instead.
"""

from __future__ import annotations

import json
import json.encoder
from collections.abc import Iterable
from typing import Any

from aiohttp.web import BaseRequest

from rr.http.canonical import canonical
from rr.http.chain import state
from rr.http.cookies import parse_cookies

# Keys under which middleware leave per-request data in the request mapping.
REMOTE_ADDR = "rr.remote_addr"          # str: client address chosen by proxy_ip_parser
EXTRA_HEADERS = "rr.extra_headers"      # list[(name, value)]: added by the headers middleware

_SKIP = frozenset({"Host", "Transfer-Encoding"})
_dumps = json.JSONEncoder(separators=(",", ":")).encode
# The C encoder behind _dumps, built once: JSONEncoder.encode builds a new one per call.
# No circular-reference markers: the context is a tree we just made.
_c_encoder = json.encoder.c_make_encoder  # type: ignore[attr-defined]
_encode_chunks = None if _c_encoder is None else _c_encoder(
    None, None, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, True)


def _encode(ctx: dict[str, Any]) -> bytes:
    if _encode_chunks is None:  # pragma: no cover - CPython always has the C encoder
        return _encode(ctx)
    return "".join(_encode_chunks(ctx, 0)).encode()


def _decode(value: bytes) -> str:
    try:
        return value.decode("ascii")
    except UnicodeDecodeError:
        return value.decode("utf-8", "replace")


def header_map(raw_headers: Iterable[tuple[bytes, bytes]]) -> dict[str, list[str]]:
    """Header lists by Go's canonical names, without ``Host`` and ``Transfer-Encoding``."""
    headers: dict[str, list[str]] = {}
    for raw_name, raw_value in raw_headers:
        name = canonical(raw_name)
        if name in _SKIP:
            continue
        lst = headers.get(name)
        if lst is None:
            headers[name] = [_decode(raw_value)]
        else:
            lst.append(_decode(raw_value))
    return headers


def headers_of(request: BaseRequest) -> dict[str, list[str]]:
    headers = header_map(request.raw_headers)
    extra = state(request).get(EXTRA_HEADERS)
    if extra:
        for name, value in extra:
            headers.setdefault(canonical(name.encode("latin-1", "replace")), []).append(value)
    return headers


def peer_host(request: BaseRequest) -> str:
    """The socket peer's IP without port (IPv6 without brackets)."""
    transport = request.transport
    peer = transport.get_extra_info("peername") if transport is not None else None
    if isinstance(peer, (tuple, list)) and peer:
        return str(peer[0])
    return ""


def strip_port(addr: str) -> str:
    """``host:port`` / ``[v6]:port`` -> host; a bare IPv4/IPv6 stays as it is."""
    if addr.startswith("["):
        end = addr.find("]")
        return addr[1:end] if end > 0 else addr
    if addr.count(":") == 1:
        return addr.split(":", 1)[0]
    return addr


def target_of(request: BaseRequest) -> str:
    return request.raw_path.replace("\r", "").replace("\n", "")


def build_uri(request: BaseRequest, scheme: str, target: str) -> str:
    if target.startswith(("http://", "https://")):
        return target
    host = request.headers.get("Host", "").replace("\r", "").replace("\n", "")
    return f"{scheme}://{host}{target}"


def protocol_of(request: BaseRequest) -> str:
    v = request.version
    return f"HTTP/{v.major}.{v.minor}"


def raw_query_of(target: str) -> str:
    q = target.find("?")
    if q < 0:
        return ""
    raw_query = target[q + 1:]
    hash_at = raw_query.find("#")
    return raw_query[:hash_at] if hash_at >= 0 else raw_query


def encode_context(remote: str, protocol: str, method: str, uri: str,
                   headers: dict[str, list[str]], raw_query: str, parsed: bool,
                   uploads: dict[str, Any] | None) -> bytes:
    """The context JSON, keys in RoadRunner's order; every HTTP protocol ends here."""
    cookie_lines = headers.get("Cookie")
    return _encode({
        "remoteAddr": remote,
        "protocol": protocol,
        "method": method,
        "uri": uri,
        "headers": headers,
        "cookies": parse_cookies(cookie_lines) if cookie_lines else {},
        "rawQuery": raw_query,
        "parsed": parsed,
        "uploads": uploads,
        "attributes": None,
    })


def build_context(request: BaseRequest, scheme: str, parsed: bool,
                  uploads: dict[str, Any] | None) -> bytes:
    target = target_of(request)
    remote = state(request).get(REMOTE_ADDR)
    return encode_context(peer_host(request) if remote is None else remote,
                          protocol_of(request), request.method,
                          build_uri(request, scheme, target), headers_of(request),
                          raw_query_of(target), parsed, uploads)
