"""The centrifuge section: defaults, RoadRunner's normalisations and error texts."""

from __future__ import annotations

from pathlib import Path

import pytest

from rr.centrifuge.config import CentrifugeConfig
from rr.config import Section
from rr.errors import ConfigError


def load(data: dict[str, object]) -> CentrifugeConfig:
    return CentrifugeConfig.from_section(Section(data, "centrifuge"))


def test_defaults() -> None:
    c = load({})
    assert c.proxy is not None and c.proxy.address == "127.0.0.1:30000"
    assert c.api_address == "127.0.0.1:10000"
    assert c.websocket is None and c.tls is None


def test_api_scheme_stripped_and_proxy_off() -> None:
    c = load({"grpc_api_address": "tcp://10.0.0.1:10000", "proxy_address": "off"})
    assert c.api_address == "10.0.0.1:10000" and c.proxy is None


def test_missing_tls_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="key file '/nope.key' does not exists"):
        load({"tls": {"key": "/nope.key", "cert": "/nope.crt"}})
    key = tmp_path / "k.pem"
    key.write_text("x")
    with pytest.raises(ConfigError, match="cert file '/nope.crt' does not exists"):
        load({"tls": {"key": str(key), "cert": "/nope.crt"}})


def test_websocket_keys() -> None:
    ws = load({"websocket": {"address": "127.0.0.1:8000", "allowed_origins": ["http://a"],
                             "ping_interval": "5s", "history_size": 10,
                             "history_ttl": "1m", "presence": True}}).websocket
    assert ws is not None
    assert (ws.host, ws.port, ws.path) == ("127.0.0.1", 8000, "/connection/websocket")
    assert ws.allowed_origins == ("http://a",) and ws.ping_interval == 5.0
    assert (ws.history_size, ws.history_ttl, ws.presence) == (10, 60.0, True)


@pytest.mark.parametrize("ws, text", [
    ({"address": "nowhere"}, "expected host:port"),
    ({"address": "127.0.0.1:1", "path": "x"}, "must start with '/'"),
    ({"address": "127.0.0.1:1", "max_message_size": 0}, "must be positive"),
])
def test_websocket_errors(ws: dict[str, object], text: str) -> None:
    with pytest.raises(ConfigError, match=text):
        load({"websocket": ws})


def test_token_keys(tmp_path: Path) -> None:
    pem = "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n"
    path = tmp_path / "ec.pem"
    path.write_text(pem)
    ws = load({"websocket": {"address": "127.0.0.1:8000", "token_hmac_secret_key": "k",
                             "token_rsa_public_key": pem, "token_ecdsa_public_key": str(path),
                             "token_audience": "a", "token_issuer": "i",
                             "expired_close_delay": "2s"}}).websocket
    assert ws is not None
    assert (ws.token_hmac_secret_key, ws.token_audience, ws.token_issuer) == ("k", "a", "i")
    assert ws.token_rsa_public_key == pem and ws.token_ecdsa_public_key == pem
    assert ws.expired_close_delay == 2.0
    default = load({"websocket": {"address": "127.0.0.1:8000"}}).websocket
    assert default is not None and default.expired_close_delay == 25.0
    with pytest.raises(ConfigError, match="websocket.token_rsa_public_key"):
        load({"websocket": {"address": "127.0.0.1:8000", "token_rsa_public_key": "/nope.pem"}})
