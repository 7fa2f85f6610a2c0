"""Go's canonical MIME header keys (``x-forwarded-for`` -> ``X-Forwarded-For``).

PHP apps look headers up by these names, so the context must use them. The mapping is
cached because the same few dozen header names arrive on every request.
"""

from __future__ import annotations

_TOKEN = frozenset(
    b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_CACHE: dict[bytes, str] = {}
_CACHE_LIMIT = 4096


def _canonical(raw: bytes) -> str:
    # Go leaves names with non-token bytes (e.g. spaces) untouched.
    if any(b not in _TOKEN for b in raw):
        return raw.decode("latin-1")
    return "-".join(w[:1].upper() + w[1:].lower() for w in raw.decode("ascii").split("-"))


def canonical(raw: bytes) -> str:
    name = _CACHE.get(raw)
    if name is None:
        name = _canonical(raw)
        if len(_CACHE) < _CACHE_LIMIT:
            _CACHE[raw] = name
    return name


def canonical_str(name: str) -> str:
    return canonical(name.encode("latin-1", "replace"))
