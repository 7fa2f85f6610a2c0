"""The ``centrifuge:`` section (spec/centrifuge.md §A.2) plus ``centrifuge.websocket`` for
the built-in endpoint (rr's own)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from rr.config import Section
from rr.errors import ConfigError
from rr.grpc.config import Listen, parse_listen

DEFAULT_PROXY = "tcp://127.0.0.1:30000"
DEFAULT_API = "127.0.0.1:10000"


@dataclass(frozen=True, slots=True)
class ClientTLS:
    key: str
    cert: str


@dataclass(frozen=True, slots=True)
class WebSocketConfig:
    """The built-in endpoint; defaults follow Centrifugo's (spec §B.2, §B.5)."""

    host: str
    port: int
    path: str = "/connection/websocket"
    allowed_origins: tuple[str, ...] = ()
    ping_interval: float = 25.0
    pong_timeout: float = 10.0
    max_message_size: int = 65536
    send_queue_size: int = 1024 * 1024  # bytes queued per connection before 3008 slow
    history_size: int = 0  # publications kept per channel; 0 = no history
    history_ttl: float = 300.0
    presence: bool = False
    join_leave: bool = False
    connect_timeout: float = 15.0
    redis: str = ""  # redis://host:port: publications cross rr instances
    # JWT keys (Centrifugo's names); none set: a token is refused with 3500
    token_hmac_secret_key: str = ""
    token_rsa_public_key: str = ""  # PEM
    token_ecdsa_public_key: str = ""  # PEM
    token_audience: str = ""
    token_issuer: str = ""
    # a token-driven expiry closes this long after expire_at (Centrifugo's
    # client_expired_close_delay): the clients refresh at expiry, not before
    expired_close_delay: float = 25.0


@dataclass(frozen=True, slots=True)
class CentrifugeConfig:
    proxy: Listen | None
    api_address: str
    use_compressor: bool
    tls: ClientTLS | None
    websocket: WebSocketConfig | None

    @classmethod
    def from_section(cls, s: Section) -> CentrifugeConfig:
        api = s.string("grpc_api_address", DEFAULT_API) or DEFAULT_API
        if api.startswith("tcp://") and len(api) > 7:
            api = api[len("tcp://"):]
        proxy_addr = s.string("proxy_address", DEFAULT_PROXY) or DEFAULT_PROXY
        proxy = None if proxy_addr == "off" else parse_listen(proxy_addr,
                                                              "centrifuge.proxy_address")
        return cls(proxy=proxy, api_address=api,
                   use_compressor=s.boolean("use_compressor"),
                   tls=_tls(s), websocket=_websocket(s))


def _tls(s: Section) -> ClientTLS | None:
    if not s.has("tls"):
        return None
    t = s.section("tls")
    key, cert = t.string("key"), t.string("cert")
    if not key or not os.path.isfile(key):
        raise ConfigError(f"centrifuge.tls.key: key file '{key}' does not exists")
    if not cert or not os.path.isfile(cert):
        raise ConfigError(f"centrifuge.tls.cert: cert file '{cert}' does not exists")
    return ClientTLS(key=key, cert=cert)


def _websocket(s: Section) -> WebSocketConfig | None:
    if not s.has("websocket.address"):
        return None
    w = s.section("websocket")
    addr = w.string("address")
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"centrifuge.websocket.address: expected host:port, got {addr!r}")
    path = w.string("path", "/connection/websocket") or "/connection/websocket"
    if not path.startswith("/"):
        raise ConfigError(f"centrifuge.websocket.path: must start with '/', got {path!r}")
    size = w.integer("max_message_size", 65536)
    queue = w.integer("send_queue_size", 1024 * 1024)
    if size <= 0 or queue <= 0:
        raise ConfigError("centrifuge.websocket: max_message_size and send_queue_size "
                          "must be positive")
    return WebSocketConfig(
        host=host or "0.0.0.0", port=int(port), path=path,
        allowed_origins=tuple(w.string_list("allowed_origins")),
        ping_interval=w.duration("ping_interval", 25.0) or 25.0,
        pong_timeout=w.duration("pong_timeout", 10.0) or 10.0,
        max_message_size=size, send_queue_size=queue,
        history_size=max(0, w.integer("history_size", 0)),
        history_ttl=w.duration("history_ttl", 300.0) or 300.0,
        presence=w.boolean("presence"), join_leave=w.boolean("join_leave"),
        connect_timeout=w.duration("connect_timeout", 15.0) or 15.0,
        redis=w.string("redis"),
        token_hmac_secret_key=w.string("token_hmac_secret_key"),
        token_rsa_public_key=_pem(w, "token_rsa_public_key"),
        token_ecdsa_public_key=_pem(w, "token_ecdsa_public_key"),
        token_audience=w.string("token_audience"), token_issuer=w.string("token_issuer"),
        expired_close_delay=w.duration("expired_close_delay", 25.0),
    )


def _pem(w: Section, key: str) -> str:
    """A public key as PEM text, or the path of a PEM file."""
    value = w.string(key)
    if not value or value.lstrip().startswith("-----BEGIN"):
        return value
    if not os.path.isfile(value):
        raise ConfigError(f"centrifuge.websocket.{key}: expected PEM text or a PEM file, "
                          f"got {value!r}")
    with open(value, encoding="utf-8") as f:
        return f.read()
