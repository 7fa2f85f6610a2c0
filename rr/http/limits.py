"""What one HTTP client may hold of the server: time, connections and buffered bytes.

RoadRunner's Go server has read/write timeouts of 5 minutes and an idle keep-alive of an
hour (spec/http-payload.md §8) and no connection cap; here the limits are rr extensions
under ``http:`` with shorter defaults, so that slow or idle clients cannot pile up. The
HTTP/1.1 protocol code (rr/http/protocol.py) reads them from this one object; another
protocol on the same listener takes the same object.
"""

from __future__ import annotations

from dataclasses import dataclass

from rr.config import Section
from rr.errors import ConfigError


@dataclass(frozen=True, slots=True)
class HttpLimits:
    #: from the first byte of a request to the end of its header block
    read_header_timeout: float = 60.0
    #: a keep-alive connection with no request (also before the first one)
    idle_timeout: float = 60.0
    #: a client that takes no response bytes for this long is dropped, freeing what was
    #: buffered for it
    write_timeout: float = 60.0
    #: open connections per listener; more are answered 503 and closed
    max_connections: int = 10_000

    @classmethod
    def from_config(cls, cfg: Section) -> HttpLimits:
        d = cls()
        limits = cls(
            read_header_timeout=cfg.duration("read_header_timeout", d.read_header_timeout),
            idle_timeout=cfg.duration("idle_timeout", d.idle_timeout),
            write_timeout=cfg.duration("write_timeout", d.write_timeout),
            max_connections=cfg.integer("max_connections", d.max_connections),
        )
        for key in ("read_header_timeout", "idle_timeout", "write_timeout"):
            if getattr(limits, key) <= 0:
                raise ConfigError(f"http.{key}: expected a positive duration like 30s, "
                                  f"got {cfg.raw(key)!r}")
        if limits.max_connections <= 0:
            raise ConfigError("http.max_connections: expected a positive integer, got "
                              f"{cfg.raw('max_connections')!r}")
        return limits
