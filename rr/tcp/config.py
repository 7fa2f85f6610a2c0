"""The ``tcp`` section (spec/tcp.md §1) plus rr's one addition, ``max_message_size``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from rr.config import Section
from rr.errors import ConfigError

MIB = 1024 * 1024
DEFAULT_DELIMITER = b"\r\n"
NAME = re.compile(r"^[a-zA-Z0-9._-]+$")


@dataclass(frozen=True, slots=True)
class ServerConfig:
    name: str
    addr: str
    delimiter: bytes

    def listen_target(self) -> tuple[str, str | None, int]:
        """("tcp", host or None for every interface, port) or ("unix", path, 0)."""
        addr = self.addr
        if addr.startswith("unix://"):
            return "unix", addr[len("unix://"):], 0
        if addr.startswith("tcp://"):
            addr = addr[len("tcp://"):]
        host, sep, port = addr.rpartition(":")
        if not sep or not port.isdigit():
            raise ConfigError(f"tcp.servers.{self.name}.addr: expected host:port, :port, "
                              f"tcp://host:port or unix:///path, got {self.addr!r}")
        return "tcp", host.strip("[]") or None, int(port)


@dataclass(frozen=True, slots=True)
class TcpConfig:
    servers: tuple[ServerConfig, ...]
    read_buf_size: int  # bytes per read
    # rr's bound for a message still waiting for its delimiter (RoadRunner has none: a
    # client that never sends the delimiter grows the buffer without limit)
    max_message_size: int

    @classmethod
    def from_section(cls, section: Section) -> TcpConfig:
        raw = section.raw("servers")
        if not raw:
            raise ConfigError("tcp.servers: no servers registered")
        if not isinstance(raw, Mapping):
            raise ConfigError(f"tcp.servers: expected a map of servers, got {raw!r}")
        servers = []
        for name in raw:
            if not NAME.match(str(name)):
                raise ConfigError(f"tcp.servers.{name}: the server name must match "
                                  f"{NAME.pattern}")
            entry = section.section(f"servers.{name}")
            addr = entry.string("addr")
            if not addr:
                raise ConfigError(f"tcp.servers.{name}.addr: empty address for the server: "
                                  f"{name}")
            delimiter = entry.string("delimiter").encode() or DEFAULT_DELIMITER
            server = ServerConfig(str(name), addr, delimiter)
            server.listen_target()  # a malformed address fails at load, naming the key
            servers.append(server)
        buf = section.integer("read_buf_size") or 1
        if not 1 <= buf <= 100:
            raise ConfigError(f"tcp.read_buf_size: expected 1..100 (MiB), got {buf}")
        limit = section.integer("max_message_size") or 64
        if limit < 1:
            raise ConfigError(f"tcp.max_message_size: expected a positive MiB count, got {limit}")
        return cls(tuple(servers), buf * MIB, limit * MIB)
