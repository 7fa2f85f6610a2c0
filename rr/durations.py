"""Go-style durations and sizes."""

from __future__ import annotations

import re
from typing import Any

from rr.errors import ConfigError

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0,
          "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(value: Any, path: str = "") -> float:
    """Go duration string -> seconds; a bare number is nanoseconds, as in RoadRunner."""
    where = f"{path}: " if path else ""
    if isinstance(value, bool):
        raise ConfigError(f"{where}expected a duration like 10s, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value) * 1e-9
    s = str(value).strip()
    if not s:
        return 0.0
    sign = 1.0
    if s[0] in "+-":
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if s == "0":
        return 0.0
    try:
        return sign * float(s) * 1e-9
    except ValueError:
        pass
    pos = 0
    total = 0.0
    for m in _PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(s) or pos == 0:
        raise ConfigError(f"{where}expected a duration like 10s or 1m30s, got {value!r}")
    return sign * total
