"""Who may act through the dashboard.

Actions are POST only and need the configured credentials: HTTP basic auth (what a
browser answers a 401 challenge with) or ``Authorization: Bearer <token>`` (for scripts).
A POST whose ``Origin`` names another site is refused even with credentials, because a
browser replays cached basic-auth credentials on a cross-site form POST.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from urllib.parse import urlsplit

from aiohttp import web

from rr.dashboard.config import DashboardConfig

REALM = 'Basic realm="rr dashboard", charset="UTF-8"'


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def authorized(request: web.Request, cfg: DashboardConfig) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "bearer" and cfg.token:
        return _same(value, cfg.token)
    if scheme == "basic" and cfg.user:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, sep, password = decoded.partition(":")
        # both compared, always, so the time taken does not tell which one was wrong
        ok_user, ok_password = _same(user, cfg.user), _same(password, cfg.password)
        return bool(sep) and ok_user and ok_password
    return False


def _challenge(cfg: DashboardConfig, text: str) -> web.HTTPUnauthorized:
    headers = {"WWW-Authenticate": REALM} if cfg.user else {}
    return web.HTTPUnauthorized(text=text, headers=headers)


def require_read(request: web.Request, cfg: DashboardConfig) -> None:
    if cfg.protect_reads and not authorized(request, cfg):
        raise _challenge(cfg, "dashboard: credentials required")


def require_action(request: web.Request, cfg: DashboardConfig) -> None:
    """Raise the HTTP error that refuses this action request, if any."""
    if request.method != "POST":
        raise web.HTTPMethodNotAllowed(request.method, ["POST"],
                                       text="dashboard actions are POST only")
    if not cfg.auth_configured:
        raise web.HTTPForbidden(text="dashboard actions are disabled: set dashboard.token "
                                     "or dashboard.user and dashboard.password")
    origin = request.headers.get("Origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.host:
        raise web.HTTPForbidden(text=f"dashboard: cross-site request from {origin} refused")
    if not authorized(request, cfg):
        raise _challenge(cfg, "dashboard: credentials required")
