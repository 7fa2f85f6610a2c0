"""``host:port`` addresses of the metrics and status listeners (Go ``net.Listen`` style)."""

from __future__ import annotations

from rr.errors import ConfigError


def split_address(address: str, key: str) -> tuple[str, int]:
    """``127.0.0.1:2112`` -> (host, port); ``:2112`` listens on every interface, as in Go."""
    host, sep, port = address.strip().rpartition(":")
    if not sep:
        raise ConfigError(f"{key}: expected host:port, got {address!r}")
    try:
        number = int(port)
    except ValueError:
        raise ConfigError(f"{key}: expected host:port, got {address!r}") from None
    if not 0 <= number <= 65535:
        raise ConfigError(f"{key}: port out of range in {address!r}")
    return host.strip("[]") or "0.0.0.0", number
