"""``gzip``: compress responses of at least 1024 bytes unless already compressed (§11.3)."""

from __future__ import annotations

from aiohttp import web
from aiohttp.web import ContentCoding

from rr.http.chain import Handler, Middleware, add_hook

STATIC_SIZE = "rr.static_size"  # set by the static middleware

MIN_SIZE = 1024
_SKIP_PREFIXES = ("image/", "video/", "audio/", "font/woff")
_SKIP_TYPES = frozenset({
    "application/zip", "application/gzip", "application/x-gzip", "application/x-bzip2",
    "application/x-7z-compressed", "application/x-rar-compressed", "application/zstd",
    "application/x-xz", "application/pdf", "application/octet-stream",
    "application/x-compress", "application/x-tar", "application/wasm",
})


def accepts_gzip(accept: str) -> bool:
    for item in accept.split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            q = params.strip()
            return not (q.startswith("q=") and float(q[2:] or 0) == 0)
    return False


def compressible(content_type: str) -> bool:
    ct = content_type.split(";", 1)[0].strip().lower()
    if ct in _SKIP_TYPES:
        return False
    return not ct.startswith(_SKIP_PREFIXES)


def _hook(request: web.BaseRequest, resp: web.StreamResponse) -> None:
    if "Content-Encoding" in resp.headers or resp.status in (204, 304) or resp.status < 200:
        return
    if not compressible(resp.headers.get("Content-Type", "")):
        return
    if isinstance(resp, web.FileResponse):
        if "Range" in request.headers or request.get(STATIC_SIZE, 0) < MIN_SIZE:
            return
    elif isinstance(resp, web.Response):
        body = resp.body
        if not isinstance(body, (bytes, bytearray)) or len(body) < MIN_SIZE:
            return
    resp.headers.add("Vary", "Accept-Encoding")
    resp.headers.pop("Accept-Ranges", None)
    resp.headers.pop("Content-Length", None)
    resp.enable_compression(ContentCoding.gzip)


def build() -> Middleware:
    def wrap(inner: Handler) -> Handler:
        async def handle(request: web.BaseRequest) -> web.StreamResponse:
            if accepts_gzip(request.headers.get("Accept-Encoding", "")):
                add_hook(request, _hook, late=True)
            return await inner(request)

        return handle

    return wrap
