"""Request cookies the way Go's ``http.Request.Cookies`` + RoadRunner's unescape see them."""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

from rr.http.canonical import _TOKEN

_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _valid_value(value: str) -> bool:
    return all(0x20 <= ord(c) < 0x7F and c not in '";\\' for c in value)


def parse_cookies(lines: list[str]) -> dict[str, str]:
    """Invalid pairs and values whose %-escapes do not decode are skipped; last name wins."""
    out: dict[str, str] = {}
    for line in lines:
        for part in line.split(";"):
            part = part.strip(" \t")
            if not part:
                continue
            name, _, value = part.partition("=")
            name = name.strip(" \t")
            if not name or any(ord(c) > 0x7F or ord(c) not in _TOKEN for c in name):
                continue
            if len(value) > 1 and value[0] == '"' and value[-1] == '"':
                value = value[1:-1]
            if not _valid_value(value) or _BAD_ESCAPE.search(value):
                continue
            out[name] = unquote_plus(value)
    return out
