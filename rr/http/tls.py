"""The HTTPS listener's TLS context and the plain listener's redirect (spec/http-payload.md §12)."""

from __future__ import annotations

import os
import ssl

from aiohttp import web

from rr.config import Section
from rr.errors import ConfigError
from rr.http.chain import Handler

HSTS = "max-age=31536000; includeSubDomains; preload"

_CLIENT_AUTH = {
    "no_client_cert": ssl.CERT_NONE,
    "request_client_cert": ssl.CERT_OPTIONAL,
    "require_any_client_cert": ssl.CERT_REQUIRED,
    "verify_client_cert_if_given": ssl.CERT_OPTIONAL,
    "require_and_verify_client_cert": ssl.CERT_REQUIRED,
}


def enabled(http: Section) -> bool:
    ssl_cfg = http.section("ssl")
    return ssl_cfg.has("cert") or ssl_cfg.has("key") or ssl_cfg.has("acme")


def context(cfg: Section) -> ssl.SSLContext:
    if cfg.has("acme"):
        raise ConfigError("http.ssl.acme: ACME certificates are not supported; give cert and key")
    cert, key = cfg.string("cert"), cfg.string("key")
    if not os.path.exists(key):
        raise ConfigError(f"http.ssl: key file '{key}' does not exists")
    if not os.path.exists(cert):
        raise ConfigError(f"http.ssl: cert file '{cert}' does not exists")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["h2", "http/1.1"])  # rr/http/h2c.py picks by the result
    root_ca = cfg.string("root_ca")
    auth = cfg.string("client_auth_type", "no_client_cert") or "no_client_cert"
    if auth not in _CLIENT_AUTH:
        raise ConfigError(f"http.ssl.client_auth_type: unknown value {auth!r}")
    if root_ca:
        if not os.path.exists(root_ca):
            raise ConfigError(f"http.ssl: root_ca file '{root_ca}' does not exists")
        ctx.load_verify_locations(root_ca)
    # Python's ssl cannot accept an unverifiable certificate, so "request"/"require any"
    # also verify against root_ca (or the system store).
    ctx.verify_mode = _CLIENT_AUTH[auth]
    return ctx


def split_address(address: str, key: str) -> tuple[str | None, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"{key}: malformed http server address {address!r}")
    if int(port) > 65535:
        # the socket layer would take the port modulo 65536 (87535 -> 21999)
        raise ConfigError(f"{key}: port out of range (0-65535) in {address!r}")
    host = host.strip("[]")
    return (host or None), int(port)


def redirector(ssl_port: int) -> Handler:
    """308 to https, keeping host, path and query; HSTS as RoadRunner sends it."""

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        host = request.headers.get("Host", "")
        host = host[:host.find("]") + 1] if host.startswith("[") else host.rsplit(":", 1)[0]
        if ssl_port != 443:
            host = f"{host}:{ssl_port}"
        resp = web.Response(status=308)
        resp.headers["Location"] = f"https://{host}{request.raw_path}"
        resp.headers["Strict-Transport-Security"] = HSTS
        return resp

    return handle
