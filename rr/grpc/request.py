"""The request context sent to PHP (spec/grpc.md §4): ``{service, method, context}``.

Built as bytes around a per-method prefix computed once, because it runs on every call.
The metadata map is encoded like Go's ``json.Marshal`` of ``map[string][]string``:
sorted keys, ``<``, ``>``, ``&`` escaped, invalid UTF-8 replaced by U+FFFD.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

# filtered by grpc-go before the metadata reaches the handler
RESERVED = frozenset({"content-type", "te", "grpc-timeout", "grpc-encoding",
                      "grpc-message-type", "grpc-status", "grpc-message"})
_GO_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
                             "\u2028": "\\u2028", "\u2029": "\\u2029"})
_dumps = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode


def prefix(service: str, method: str) -> bytes:
    head = json.dumps({"service": service, "method": method}, separators=(",", ":"))
    return (head[:-1] + ',"context":').encode()


def peer_address(peer: str) -> str:
    """grpcio's ``ipv4:1.2.3.4:5`` / ``ipv6:[::1]:5`` / ``unix:/p`` → Go's ``1.2.3.4:5``."""
    scheme, _, rest = peer.partition(":")
    if scheme in ("ipv4", "ipv6"):
        return rest
    if scheme == "unix":
        return rest or "@"
    return peer


def context_json(metadata: Iterable[tuple[str, str | bytes]], peer: str, tls: bool) -> bytes:
    md: dict[str, list[str]] = {}
    for key, value in metadata:
        if key in RESERVED or (key.startswith(":") and key != ":authority"):
            continue
        if isinstance(value, bytes):  # -bin values arrive decoded from base64
            value = value.decode("utf-8", "replace")
        got = md.get(key)
        if got is None:
            md[key] = [value]
        else:
            got.append(value)
    md[":peer.address"] = [peer_address(peer)]
    if tls:
        md[":peer.auth-type"] = ["tls"]
    text = _dumps(md)
    if "<" in text or ">" in text or "&" in text or "\u2028" in text or "\u2029" in text:
        text = text.translate(_GO_ESCAPES)
    return text.encode("utf-8", "replace")
