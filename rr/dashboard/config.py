"""The ``dashboard:`` section.

The page shows job payloads and lets its user pause pipelines and restart workers, so
the defaults are the cautious ones: a host-less address binds to loopback only (not to
every interface as ``metrics.address`` does), and without credentials the dashboard is
read-only.
"""

from __future__ import annotations

from dataclasses import dataclass

from rr.config import Section
from rr.errors import ConfigError
from rr.metrics.listen import split_address

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class DashboardConfig:
    address: str
    host: str
    port: int
    user: str = ""
    password: str = ""
    token: str = ""
    protect_reads: bool = False  # reads need the credentials too
    interval: float = 1.0  # seconds between live updates
    history: float = 300.0  # seconds of throughput/latency history kept in memory
    max_streams: int = 32  # concurrent live-update connections

    @property
    def auth_configured(self) -> bool:
        return bool(self.token or self.user)

    @classmethod
    def from_section(cls, s: Section) -> DashboardConfig:
        address = s.string("address").strip()
        if not address:
            raise ConfigError("dashboard.address: required, e.g. 127.0.0.1:2115")
        if address.startswith(":"):  # no host given: loopback, never every interface
            address = LOOPBACK + address
        host, port = split_address(address, "dashboard.address")
        user, password = s.string("user"), s.string("password")
        if bool(user) != bool(password):
            raise ConfigError("dashboard.user and dashboard.password: set both or neither")
        interval = s.duration("interval", 1.0)
        history = s.duration("history", 300.0)
        if interval <= 0:
            raise ConfigError(f"dashboard.interval: must be positive, got {interval}")
        if history < 60:
            raise ConfigError(f"dashboard.history: at least 60s, got {history}")
        max_streams = s.integer("max_streams", 32)
        if max_streams < 1:
            raise ConfigError(f"dashboard.max_streams: at least 1, got {max_streams}")
        return cls(address=address, host=host, port=port, user=user, password=password,
                   token=s.string("token"), protect_reads=s.boolean("protect_reads"),
                   interval=interval, history=history, max_streams=max_streams)
