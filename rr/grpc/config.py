"""The ``grpc:`` section (spec/grpc.md §2), with RoadRunner's error texts."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from rr.config import Section
from rr.errors import ConfigError

MIB = 1024 * 1024
DEFAULT_MSG_MIB = 50
DEFAULT_STREAMS = 10
DEFAULT_PING = 2 * 3600.0
DEFAULT_PING_TIMEOUT = 20.0
CLIENT_AUTH_TYPES = frozenset({
    "no_client_cert", "request_client_cert", "require_any_client_cert",
    "verify_client_cert_if_given", "require_and_verify_client_cert",
})


@dataclass(frozen=True, slots=True)
class TLSConfig:
    key: str
    cert: str
    root_ca: str = ""
    # RoadRunner treats any unknown value (even the docs' ``no_client_certs``) as none
    client_auth_type: str = "no_client_cert"


@dataclass(frozen=True, slots=True)
class Listen:
    """Where to listen: ``tcp://host:port`` (scheme optional) or ``unix:///path``."""

    address: str
    unix_path: str = ""

    @property
    def grpc_target(self) -> str:
        """The address in grpcio's ``add_*_port`` syntax."""
        return f"unix:{self.unix_path}" if self.unix_path else self.address


@dataclass(frozen=True, slots=True)
class ServerOptions:
    """What a grpcio server is built from; shared with other plugins on the same stack."""

    listen: Listen
    tls: TLSConfig | None = None
    max_send_msg_size: int = DEFAULT_MSG_MIB * MIB
    max_recv_msg_size: int = DEFAULT_MSG_MIB * MIB
    max_connection_idle: float = 0.0  # 0 = infinite
    max_connection_age: float = 0.0
    max_connection_age_grace: float = 0.0
    max_concurrent_streams: int = DEFAULT_STREAMS
    ping_time: float = DEFAULT_PING
    timeout: float = DEFAULT_PING_TIMEOUT


FRONTS = ("native", "grpcio")


@dataclass(frozen=True, slots=True)
class GrpcConfig:
    server: ServerOptions
    proto: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    #: rr's own HTTP/2 front (fast) or grpcio's server (an rr extension key, ``server``)
    front: str = "native"

    @classmethod
    def from_section(cls, s: Section) -> GrpcConfig:
        interceptors = [n.strip() for n in s.string_list("interceptors") if n.strip()]
        if interceptors:
            # RoadRunner's interceptors are Go plugins; rr has none to offer
            raise ConfigError(f"grpc.interceptors: interceptor {interceptors[0]} is not "
                              "registered")
        protos = tuple(p.strip() for p in s.string_list("proto") if p.strip())
        if not protos:
            raise ConfigError("grpc.proto: at least one proto file is required")
        front = s.string("server", "native") or "native"
        if front not in FRONTS:
            raise ConfigError(f"grpc.server: expected one of {', '.join(FRONTS)}, got {front!r}")
        return cls(server=server_options(s), proto=protos,
                   env={str(k).upper(): "" if v is None else str(v)
                        for k, v in s.section("env").items()}, front=front)


def server_options(s: Section) -> ServerOptions:
    """The listener/transport keys of a gRPC-style section (``listen``, ``tls``, limits)."""
    name = s.path or "grpc"
    return ServerOptions(
        listen=parse_listen(s.string("listen"), name),
        tls=tls_config(s.section("tls")),
        max_send_msg_size=_mib(s, "max_send_msg_size"),
        max_recv_msg_size=_mib(s, "max_recv_msg_size"),
        max_connection_idle=_non_negative(s, "max_connection_idle"),
        max_connection_age=_non_negative(s, "max_connection_age"),
        max_connection_age_grace=_non_negative(s, "max_connection_age_grace"),
        max_concurrent_streams=_positive_int(s, "max_concurrent_streams") or DEFAULT_STREAMS,
        ping_time=max(1.0, s.duration("ping_time", 0.0) or DEFAULT_PING),
        timeout=s.duration("timeout", 0.0) or DEFAULT_PING_TIMEOUT,
    )


def parse_listen(value: str, name: str = "grpc") -> Listen:
    if ":" not in value:
        raise ConfigError(f"{name}.listen: malformed {name} address, provided: {value}")
    if value.startswith("unix://"):
        path = value[len("unix://"):]
        if not path:
            raise ConfigError(f"{name}.listen: malformed {name} address, provided: {value}")
        return Listen(value, unix_path=path)
    address = value[len("tcp://"):] if value.startswith("tcp://") else value
    host, _, port = address.rpartition(":")
    if not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"{name}.listen: malformed {name} address, provided: {value}")
    return Listen(f"{host or '0.0.0.0'}:{port}")


def tls_config(t: Section) -> TLSConfig | None:
    key, cert = t.string("key"), t.string("cert")
    if not key or not cert:
        return None
    if not os.path.isfile(key):
        raise ConfigError(f"{t.path}.key: key file '{key}' does not exists")
    if not os.path.isfile(cert):
        raise ConfigError(f"{t.path}.cert: cert file '{cert}' does not exists")
    root_ca = t.string("root_ca")
    if root_ca and not os.path.isfile(root_ca):
        # RoadRunner v5's text says "key file" here; the v6 wording names the right file
        raise ConfigError(f"{t.path}.root_ca: root ca path provided, but root ca file "
                          f"'{root_ca}' does not exists")
    auth = t.string("client_auth_type", "no_client_cert")
    return TLSConfig(key, cert, root_ca,
                     auth if auth in CLIENT_AUTH_TYPES else "no_client_cert")


def _mib(s: Section, key: str) -> int:
    return (_positive_int(s, key) or DEFAULT_MSG_MIB) * MIB


def _positive_int(s: Section, key: str) -> int:
    v = s.integer(key, 0)
    if v < 0:
        raise ConfigError(f"{s.path}.{key}: expected a non-negative integer, got {v}")
    return v


def _non_negative(s: Section, key: str) -> float:
    v = s.duration(key, 0.0)
    if v < 0:
        raise ConfigError(f"{s.path}.{key}: expected a non-negative duration, got {v}")
    return v
