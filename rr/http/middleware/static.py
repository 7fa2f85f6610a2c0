"""``static``: serve files from ``http.static.dir`` before PHP sees the request (§11.2).

Conditional requests, Range and HEAD come from aiohttp's FileResponse; the ETag is
replaced by RoadRunner's (or removed when ``calculate_etag`` is off) and If-None-Match is
evaluated against it here. Paths with ``..`` get 403, and so does any file whose real
path (after following symlinks) lies outside the directory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from aiohttp import web

from rr.config import Section
from rr.errors import ConfigError
from rr.http import etag as etagmod
from rr.http.canonical import canonical_str
from rr.http.chain import Handler, Middleware
from rr.http.middleware.gzip import STATIC_SIZE


class _File(web.FileResponse):
    """A FileResponse whose ETag is ours (or none), whatever aiohttp computes."""

    def __init__(self, path: Path, rr_etag: str | None, **kw: Any) -> None:
        super().__init__(path, **kw)
        self._rr_etag = rr_etag

    @property  # type: ignore[override]
    def etag(self) -> Any:
        return web.FileResponse.etag.fget(self)  # type: ignore[attr-defined]

    @etag.setter
    def etag(self, value: Any) -> None:
        if self._rr_etag is None:
            self._headers.pop("ETag", None)
        else:
            self._headers["ETag"] = self._rr_etag


class Static:
    def __init__(self, cfg: Section) -> None:
        directory = cfg.string("dir")
        root = Path(directory)
        if not root.exists():
            raise ConfigError(f"http.static: root directory '{directory}' does not exists")
        if not root.is_dir():
            raise ConfigError(f"http.static: invalid root directory '{directory}'")
        self.root = root.resolve()
        self.forbid = {e.lower() for e in cfg.string_list("forbid") if e}
        self.allow = {e.lower() for e in cfg.string_list("allow") if e}
        self.calculate_etag = cfg.boolean("calculate_etag")
        self.weak = cfg.boolean("weak")
        self.request_headers = [(canonical_str(k), str(v))
                                for k, v in cfg.section("request").items()]
        self.response_headers = [(canonical_str(k), str(v))
                                 for k, v in cfg.section("response").items()]
        self._etags: dict[tuple[str, int, int], str] = {}

    def _etag(self, path: Path, st: os.stat_result) -> str | None:
        if not self.calculate_etag or st.st_size == 0:
            return None
        if self.weak:
            return etagmod.weak(path.name)
        key = (str(path), st.st_mtime_ns, st.st_size)
        value = self._etags.get(key)
        if value is None:
            value = etagmod.strong(path.read_bytes())
            if len(self._etags) > 4096:
                self._etags.clear()
            self._etags[key] = value
        return value

    def lookup(self, url_path: str) -> tuple[str, Path | None]:
        """("403"|"pass"|"serve", file)."""
        if ".." in url_path:
            return "403", None
        ext = os.path.splitext(url_path)[1].lower()
        if not ext or ext in self.forbid or (self.allow and ext not in self.allow):
            return "pass", None
        candidate = self.root / url_path.lstrip("/")
        try:
            real = candidate.resolve(strict=True)
        except (OSError, RuntimeError):
            return "pass", None
        if real != self.root and self.root not in real.parents:
            return "403", None  # a symlink pointing outside the static dir
        if not real.is_file():
            return "pass", None
        return "serve", real

    def serve(self, request: web.BaseRequest, path: Path) -> web.StreamResponse:
        st = path.stat()
        tag = self._etag(path, st)
        if tag is not None:
            inm = request.headers.get("If-None-Match")
            if inm is not None and _etag_matches(inm, tag):
                resp = web.Response(status=304)
                resp.headers["ETag"] = tag
                return resp
        request[STATIC_SIZE] = st.st_size
        file = _File(path, tag)
        for name, value in self.response_headers:
            file.headers[name] = value
        return file


def _etag_matches(header: str, tag: str) -> bool:
    bare = tag[2:] if tag.startswith("W/") else tag
    for item in header.split(","):
        item = item.strip()
        if item == "*" or (item[2:] if item.startswith("W/") else item) == bare:
            return True
    return False


def build(http: Section) -> Middleware | None:
    if not http.has("static"):
        return None
    static = Static(http.section("static"))

    def wrap(inner: Handler) -> Handler:
        async def handle(request: web.BaseRequest) -> web.StreamResponse:
            path = request.path.replace("\r", "").replace("\n", "")
            verdict, file = static.lookup(path)
            if verdict == "403":
                return web.Response(status=403)
            if verdict == "serve" and file is not None:
                return static.serve(request, file)
            return await inner(request)

        return handle

    return wrap
