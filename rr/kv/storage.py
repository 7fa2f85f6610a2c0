"""What every KV driver implements, and the RFC 3339 conversions they share.

Validation of requests (empty key lists, blank keys, timeout parsing) happens once in
``rr.kv.rpc`` so that every driver answers bad input with the same error texts; a driver
only ever sees well-formed keys and absolute expiry instants (Unix seconds, float).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from rr.errors import RRError


@dataclass(slots=True)
class Entry:
    """One item of a Set: the value as the client sent it, and when it expires (None: never)."""

    key: str
    value: bytes
    expires_at: float | None


class Storage(Protocol):
    """One configured storage (``kv.<name>``). Every method may raise RRError."""

    driver: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def has(self, keys: list[str]) -> list[str]: ...

    async def set(self, entries: list[Entry]) -> None: ...

    async def mget(self, keys: list[str]) -> dict[str, bytes]: ...

    async def mexpire(self, expiries: dict[str, float]) -> None: ...

    async def ttl(self, keys: list[str]) -> dict[str, float | None]:
        """Existing keys -> their expiry instant (None: no expiry); missing keys omitted."""
        ...

    async def delete(self, keys: list[str]) -> None: ...

    async def clear(self) -> None: ...


def parse_timeout(text: str) -> float:
    """RFC 3339 (``Z`` or ``±HH:MM``, optional fraction) -> Unix seconds.

    Go's parser accepts the same forms; a string without an offset is not RFC 3339.
    """
    s = text.strip()
    if len(s) < 20 or s[10] not in "Tt":
        raise RRError(f'parsing time "{text}" as RFC 3339: cannot parse')
    s = s[:10] + "T" + s[11:]
    if s[-1] in "Zz":
        s = s[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(s)
    except ValueError:
        raise RRError(f'parsing time "{text}" as RFC 3339: cannot parse') from None
    if moment.tzinfo is None:
        raise RRError(f'parsing time "{text}" as RFC 3339: missing time zone offset')
    return moment.timestamp()


def format_timeout(instant: float) -> str:
    """Unix seconds -> ``YYYY-MM-DDTHH:MM:SS+00:00``: the only shape PHP's
    ``createFromFormat(DATE_RFC3339)`` parses (no fractional seconds), always in UTC."""
    whole = math.floor(instant)
    return datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
