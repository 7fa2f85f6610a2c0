"""``headers``: fixed request/response headers and CORS (spec/http-payload.md §11.1)."""

from __future__ import annotations

import re
from collections.abc import Callable

from aiohttp import web

from rr.config import Section
from rr.http.canonical import canonical_str
from rr.http.chain import Handler, Middleware, add_hook
from rr.http.context import EXTRA_HEADERS


def _pairs(section: Section) -> list[tuple[str, str]]:
    # config keys arrive lower-cased (viper); the wire wants canonical names
    return [(canonical_str(k), "" if v is None else str(v)) for k, v in section.items()]


def _list(value: str) -> list[str]:
    return [p.strip() for p in value.split(",") if p.strip()]


class Cors:
    def __init__(self, cfg: Section) -> None:
        self.origins = [o.lower() for o in _list(cfg.string("allowed_origin"))]
        regex = cfg.string("allowed_origin_regex")
        self.origin_re = re.compile(regex) if regex else None
        self.methods = [m.upper() for m in _list(cfg.string("allowed_methods"))] or [
            "GET", "POST", "HEAD"]
        self.headers = [canonical_str(h) for h in _list(cfg.string("allowed_headers"))]
        self.any_header = "*" in self.headers
        self.exposed = [canonical_str(h) for h in _list(cfg.string("exposed_headers"))]
        self.credentials = cfg.boolean("allow_credentials")
        self.max_age = cfg.integer("max_age")
        self.success = cfg.integer("options_success_status", 200) or 200
        self.any_origin = "*" in self.origins

    def origin_allowed(self, origin: str) -> bool:
        if self.origin_re is not None:
            return self.origin_re.search(origin) is not None
        if self.any_origin:
            return True
        o = origin.lower()
        for allowed in self.origins:
            if "*" in allowed:
                pre, _, suf = allowed.partition("*")
                if o.startswith(pre) and o.endswith(suf) and len(o) >= len(pre) + len(suf):
                    return True
            elif o == allowed:
                return True
        return False

    def _origin_value(self, origin: str) -> str:
        # rs/cors answers "*" for a wildcard config without credentials
        return "*" if self.any_origin and not self.credentials else origin

    def preflight(self, request: web.BaseRequest) -> web.Response:
        resp = web.Response(status=self.success)
        h = resp.headers
        h.add("Vary", "Origin")
        h.add("Vary", "Access-Control-Request-Method")
        h.add("Vary", "Access-Control-Request-Headers")
        origin = request.headers.get("Origin", "")
        method = request.headers.get("Access-Control-Request-Method", "").upper()
        if not origin or not self.origin_allowed(origin) or method not in self.methods \
                and method != "OPTIONS":
            return resp
        req_headers = [canonical_str(x) for x in
                       _list(request.headers.get("Access-Control-Request-Headers", ""))]
        if not self.any_header and any(x not in self.headers for x in req_headers):
            return resp
        h["Access-Control-Allow-Origin"] = self._origin_value(origin)
        h["Access-Control-Allow-Methods"] = method
        if req_headers:
            h["Access-Control-Allow-Headers"] = ", ".join(req_headers)
        if self.credentials:
            h["Access-Control-Allow-Credentials"] = "true"
        if self.max_age > 0:
            h["Access-Control-Max-Age"] = str(self.max_age)
        return resp

    def actual_hook(self, origin: str) -> Callable[[web.BaseRequest, web.StreamResponse], None]:
        allowed = origin and self.origin_allowed(origin)

        def hook(_: web.BaseRequest, resp: web.StreamResponse) -> None:
            resp.headers.add("Vary", "Origin")
            if not allowed:
                return
            resp.headers["Access-Control-Allow-Origin"] = self._origin_value(origin)
            if self.credentials:
                resp.headers["Access-Control-Allow-Credentials"] = "true"
            if self.exposed:
                resp.headers["Access-Control-Expose-Headers"] = ", ".join(self.exposed)

        return hook


def build(http: Section) -> Middleware | None:
    if not http.has("headers"):
        return None
    cfg = http.section("headers")
    request_headers = _pairs(cfg.section("request"))
    response_headers = _pairs(cfg.section("response"))
    cors = Cors(cfg.section("cors")) if cfg.has("cors") else None

    def set_response_headers(_: web.BaseRequest, resp: web.StreamResponse) -> None:
        # configured values come first; what PHP set for the same name is kept after them
        for name, value in response_headers:
            mine = resp.headers.getall(name, [])
            resp.headers.popall(name, None)
            resp.headers.add(name, value)
            for v in mine:
                resp.headers.add(name, v)

    def wrap(inner: Handler) -> Handler:
        async def handle(request: web.BaseRequest) -> web.StreamResponse:
            if cors is not None:
                origin = request.headers.get("Origin", "")
                if request.method == "OPTIONS" and \
                        "Access-Control-Request-Method" in request.headers:
                    return cors.preflight(request)
                add_hook(request, cors.actual_hook(origin))
            if request_headers:
                extra = request.get(EXTRA_HEADERS)
                if extra is None:
                    request[EXTRA_HEADERS] = list(request_headers)
                else:
                    extra.extend(request_headers)
            if response_headers:
                add_hook(request, set_response_headers)
            return await inner(request)

        return handle

    return wrap
