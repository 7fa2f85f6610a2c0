"""JWT connection and subscription tokens, verified as Centrifugo verifies them: HMAC
(``token_hmac_secret_key``), RSA (``token_rsa_public_key``) or ECDSA
(``token_ecdsa_public_key``) signatures, ``exp``, and ``aud`` / ``iss`` when configured.

A connection token names the user (``sub``) and may carry ``info``/``b64info`` (the
ClientInfo ``conn_info``), ``channels`` and ``subs`` (server-side subscriptions),
``meta`` and ``expire_at`` (connection expiry when it differs from ``exp``). A
subscription token names the same user and the ``channel`` and may carry ``info``,
``data`` and ``expire_at``. With a token the PHP connect / subscribe handler is not
called: the token is the proof.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

import jwt

from rr.centrifuge.codec import JSON
from rr.centrifuge.config import WebSocketConfig

_FAMILIES = {"HS": "hmac", "RS": "rsa", "PS": "rsa", "ES": "ecdsa"}


class InvalidToken(Exception):
    """Bad signature, bad claims or no key for the algorithm: close 3500."""


class TokenExpired(Exception):
    """A well-signed token past its ``exp``: error 109, the client gets a new one."""


@dataclass(slots=True)
class SubGrant:
    """What a token grants for one channel (a ``subs`` entry or a subscription token)."""

    info: Any = None
    data: Any = None
    expire_at: int = 0
    join_leave: bool | None = None  # override of websocket.join_leave for the channel
    force_push_join_leave: bool = False  # pushes even when the client did not ask


@dataclass(slots=True)
class ConnectGrant:
    user: str
    info: Any = None
    meta: bytes = b""
    expire_at: int = 0
    channels: list[str] = field(default_factory=list)
    subs: dict[str, SubGrant] = field(default_factory=dict)


class Verifier:
    def __init__(self, cfg: WebSocketConfig) -> None:
        self._keys: dict[str, Any] = {}
        if cfg.token_hmac_secret_key:
            self._keys["hmac"] = cfg.token_hmac_secret_key.encode()
        if cfg.token_rsa_public_key:
            self._keys["rsa"] = cfg.token_rsa_public_key
        if cfg.token_ecdsa_public_key:
            self._keys["ecdsa"] = cfg.token_ecdsa_public_key
        self._audience = cfg.token_audience or None
        self._issuer = cfg.token_issuer or None

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def claims(self, token: str) -> dict[str, Any]:
        try:
            alg = str(jwt.get_unverified_header(token).get("alg", ""))
            key = self._keys.get(_FAMILIES.get(alg[:2], ""))
            if key is None:
                raise InvalidToken(f"no key for algorithm {alg!r}")
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=[alg], audience=self._audience, issuer=self._issuer,
                options={"verify_aud": self._audience is not None})
        except jwt.ExpiredSignatureError:
            raise TokenExpired from None
        except jwt.PyJWTError as e:
            raise InvalidToken(str(e)) from None
        return claims

    def connect(self, token: str) -> ConnectGrant:
        c = self.claims(token)
        channels = c.get("channels") or []
        subs = c.get("subs") or {}
        if not isinstance(channels, list) or not isinstance(subs, dict):
            raise InvalidToken("channels must be a list and subs an object")
        meta = c.get("meta")
        return ConnectGrant(
            user=_string(c, "sub"), info=_payload(c, "info"),
            meta=b"" if meta is None else _json_bytes(meta),
            expire_at=_expiry(c), channels=[str(ch) for ch in channels],
            subs={str(ch): _sub_grant(o if isinstance(o, dict) else {}) for ch, o in subs.items()})

    def subscribe(self, token: str, user: str, channel: str) -> SubGrant:
        c = self.claims(token)
        if _string(c, "sub") != user or _string(c, "channel") != channel:
            raise InvalidToken("token is for another user or channel")
        return _sub_grant(c)


def _sub_grant(c: dict[str, Any]) -> SubGrant:
    """``override`` as Centrifugo's tokens carry it: ``{"join_leave": {"value": true}}``."""
    override = c.get("override") if isinstance(c.get("override"), dict) else {}
    jl = override.get("join_leave") if override else None
    force = override.get("force_push_join_leave") if override else None
    return SubGrant(info=_payload(c, "info"), data=_payload(c, "data"), expire_at=_expiry(c),
                    join_leave=bool(jl.get("value")) if isinstance(jl, dict) else None,
                    force_push_join_leave=isinstance(force, dict) and bool(force.get("value")))


def _string(c: dict[str, Any], key: str) -> str:
    value = c.get(key, "")
    if not isinstance(value, str):
        raise InvalidToken(f"claim {key!r} must be a string")
    return value


def _payload(c: dict[str, Any], key: str) -> Any:
    """``info`` as JSON, or ``b64info`` as the bytes it encodes (opaque payloads)."""
    if c.get(key) is not None:
        return c[key]
    b64 = c.get("b64" + key)
    if not b64:
        return None
    try:
        return base64.b64decode(str(b64), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidToken(f"claim b64{key} is not base64") from None


def _expiry(c: dict[str, Any]) -> int:
    """``expire_at`` wins over ``exp`` (Centrifugo: a long-lived token for a short
    connection); 0 = never."""
    value = c.get("expire_at", c.get("exp", 0))
    if not isinstance(value, int | float):
        raise InvalidToken("expire_at/exp must be a number")
    return int(value)


def _json_bytes(value: Any) -> bytes:
    return JSON.raw(value)
