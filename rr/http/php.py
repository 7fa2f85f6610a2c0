"""The innermost handler: one request -> one payload for the http pool -> the response.

Every exchange goes through ``pool.stream`` because a reply may turn out to be streamed
only when its first frame arrives; a plain reply is simply a one-frame stream.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web
from multidict import CIMultiDict

from rr.goridge.frame import CODEC_JSON, CODEC_PROTO
from rr.http import body as bodymod
from rr.http import fastreply
from rr.http.accesslog import WRITE_BYTES
from rr.http.chain import READ_BYTES, UPLOADED, finalize, has_hooks, state, text_response
from rr.http.context import build_context
from rr.http.h2stream import H2Writer
from rr.http.reply import Reply, ReplyError, decode
from rr.http.uploads import UploadsConfig
from rr.pool.errors import NoFreeWorkersError, PoolError
from rr.pool.payload import Payload
from rr.pool.pool import Pool
from rr.ratelog import RateLimitedLog

# control bytes other than \t \n \x0c \r \x1b mark binary data, as in Go
_BINARY = re.compile(rb"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f]")
_NO_BODY_METHODS = frozenset({"HEAD", "OPTIONS"})
_URLENCODED = "application/x-www-form-urlencoded"
_MULTIPART = "multipart/form-data"
_HTML_PREFIXES = (b"<!doctype html", b"<html", b"<head", b"<script", b"<iframe", b"<h1",
                  b"<div", b"<font", b"<table", b"<a", b"<style", b"<title", b"<b",
                  b"<body", b"<br", b"<p", b"<!--")


@dataclass(slots=True)
class HandlerConfig:
    max_request_size: int
    raw_body: bool
    internal_error_code: int
    debug: bool
    uploads: UploadsConfig


class _ClientGone(Exception):
    pass


def sniff(body: bytes) -> str:
    """The subset of Go's DetectContentType that matters for PHP output."""
    head = body[:512].lstrip(b"\t\n\x0c\r ")
    if head[:1] == b"<":
        lower = head[:16].lower()
        for prefix in _HTML_PREFIXES:
            if lower.startswith(prefix) and len(head) > len(prefix) \
                    and head[len(prefix)] in b" >":
                return "text/html; charset=utf-8"
    elif head.startswith(b"%PDF-"):
        return "application/pdf"
    elif head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    elif head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    elif head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if _BINARY.search(body, 0, 512) is not None:
        return "application/octet-stream"
    return "text/plain; charset=utf-8"


def interim_bytes(reply: Reply) -> bytes:
    lines = [f"HTTP/1.1 {reply.status} {_reason(reply.status)}\r\n"]
    lines += [f"{n}: {v}\r\n" for n, v in reply.headers]
    lines.append("\r\n")
    return "".join(lines).encode("latin-1", "replace")


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Informational"


class PHPHandler:
    """Turns requests into payloads; ``scheme`` is per listener (http/https)."""

    def __init__(self, pool: Callable[[], Pool], cfg: HandlerConfig, scheme: str,
                 logger: logging.Logger,
                 on_no_free_workers: Callable[[], None] | None = None) -> None:
        self._pool = pool
        self._on_no_free_workers = on_no_free_workers
        # set by the plugin: whether middleware may have registered response hooks (only
        # then the request mapping is searched), and the switch tests use to compare
        # the fast reply path byte for byte with aiohttp's
        self.hooks_possible = True
        self.fast_path = True
        self._heads = fastreply.HeadCache()
        self.cfg = cfg
        self.scheme = scheme
        self.log = logger
        self._app_errors = RateLimitedLog(logger)

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        cfg = self.cfg
        method = request.method
        parsed = False
        uploads = None
        if method in _NO_BODY_METHODS:
            body = b""
        else:
            try:
                # most requests have no body: skip the read coroutine for them
                body = await bodymod.read_limited(request, cfg.max_request_size) \
                    if request.body_exists else b""
            except bodymod.BodyTooLarge:
                resp = text_response(413, bodymod.TOO_LARGE)
                resp.force_close()
                return resp
            except (asyncio.IncompleteReadError, ConnectionError):
                resp = web.Response(status=400)
                resp.force_close()
                return resp
            if body:
                request[READ_BYTES] = len(body)
            ct = request.headers.get("Content-Type", "")
            if cfg.raw_body or not ct:
                pass
            elif _URLENCODED in ct:
                parsed = True
                try:
                    body = bodymod.parse_urlencoded(body, method)
                except bodymod.BodyParseError as e:
                    return text_response(500, f"serve_http: {e}\n")
            elif _MULTIPART in ct:
                parsed = True
                created: list[str] = []
                request[UPLOADED] = created
                try:
                    body, uploads = bodymod.parse_multipart(body, ct, cfg.uploads, created)
                except bodymod.BodyParseError as e:
                    return text_response(500, f"serve_http: {e}\n")
        context = build_context(request, self.scheme, parsed, uploads)
        return await self.exchange(request, Payload(context=context, body=body, flags=CODEC_JSON))

    # -- talking to the pool ---------------------------------------------------------------
    def pool(self) -> Pool:
        return self._pool()

    async def exchange_direct(self, transport: asyncio.Transport, payload: Payload,
                              make_request: Callable[[], web.BaseRequest]
                              ) -> tuple[web.BaseRequest | None, web.StreamResponse]:
        """``exchange`` for a protocol that has no aiohttp request yet (rr/http/h1.py).

        A one-frame reply that the fast path takes is written without one; any other
        reply gets its request from ``make_request`` and goes through ``single`` or
        ``streamed`` as on the aiohttp path. The request is None when none was made."""
        request: web.BaseRequest | None = None
        try:
            async with self._pool().stream(payload) as frames:
                first = await frames.__anext__()
                if not first.stream and self.fast_path:
                    sent = self.direct(transport, first)
                    if sent is not None:
                        return None, sent
                request = make_request()
                if not first.stream:
                    return request, self.single(request, first)
                return request, await self.streamed(request, first, frames)
        except _ClientGone as gone:
            return request, gone.args[0]
        except PoolError as e:
            return request, self.pool_error(e)

    async def exchange(self, request: web.BaseRequest, payload: Payload) -> web.StreamResponse:
        try:
            async with self._pool().stream(payload) as frames:
                first = await frames.__anext__()
                if not first.stream:
                    return self.single(request, first)
                return await self.streamed(request, first, frames)
        except _ClientGone as gone:
            return gone.args[0]  # type: ignore[no-any-return]
        except PoolError as e:
            return self.pool_error(e)

    def pool_error(self, e: PoolError) -> web.Response:
        self.log.error("request error", extra={"fields": {"error": str(e)}})
        if self.cfg.debug:
            resp = text_response(self.cfg.internal_error_code, f"{e}\n")
        else:
            resp = web.Response(status=self.cfg.internal_error_code)
        if isinstance(e, NoFreeWorkersError):
            resp.headers["No-Workers"] = "true"
            if self._on_no_free_workers is not None:
                self._on_no_free_workers()
        return resp

    def _decode(self, p: Payload) -> Reply | web.Response:
        try:
            reply = decode(p.context, p.flags)
        except ReplyError as e:
            self.log.error("response decode error", extra={"fields": {"error": str(e)}})
            return self.pool_error(PoolError(str(e)))
        if not 100 <= reply.status <= 599:
            self._app_errors.log(logging.ERROR, "status", "invalid status code from worker",
                                 status=reply.status)
            return text_response(500, f"unknown status code from worker: {reply.status}\n")
        return reply

    def _interim(self, request: web.BaseRequest, reply: Reply) -> None:
        """1xx (not 101): an interim response carrying only this frame's headers.

        aiohttp's response API cannot emit interim responses, but nothing of the final
        response has been written yet, so the bytes can go to the transport directly."""
        if reply.status == 101 or request.version < (1, 1):
            return
        writer = request._payload_writer
        if isinstance(writer, H2Writer):
            writer.send_interim(reply.status, list(reply.headers))
            return
        transport = request.transport
        if transport is not None and not transport.is_closing():
            transport.write(interim_bytes(reply))

    def _headers(self, request: web.BaseRequest, reply: Reply, body: bytes | None
                 ) -> CIMultiDict[str]:
        headers: CIMultiDict[str] = CIMultiDict()
        trailer_names: set[str] = set()
        for name, value in reply.headers:
            low = name.lower()
            if low == "trailer":
                # aiohttp cannot send HTTP trailers: the named headers go out as ordinary
                # headers (their values are known up front for a buffered reply).
                trailer_names.update(t.strip().lower() for t in value.split(","))
                continue
            if low == "content-length" and body is not None and request.method != "HEAD":
                continue  # aiohttp sets the real length of the body we send
            headers.add(name, value)
        if body and "Content-Type" not in headers:
            headers["Content-Type"] = sniff(body)
        return headers

    def single(self, request: web.BaseRequest, p: Payload) -> web.StreamResponse:
        # uploaded temp files must be gone before the client sees the end of the reply
        # (Entry removes them before aiohttp writes): those requests take aiohttp's path
        if self.fast_path and fastreply.eligible(request) and not (
                self.hooks_possible and has_hooks(request)) and UPLOADED not in state(request):
            sent = self.direct(request.transport, p)
            if sent is not None:
                return sent
        body = p.body
        context = p.context
        if not context:
            headers = {"Content-Type": sniff(body)} if body else None
            return web.Response(status=200, body=body, headers=headers)
        reply = self._decode(p)
        if isinstance(reply, web.Response):
            return reply
        if reply.status < 200:
            self._interim(request, reply)
            return web.Response(status=200)
        return web.Response(status=reply.status, body=body,
                            headers=self._headers(request, reply, body))

    def direct(self, transport: asyncio.Transport | None, p: Payload
               ) -> web.StreamResponse | None:
        """The fast reply path for a one-frame reply, once the request side qualified:
        a ``Sent`` marker, or None when the reply needs aiohttp's response objects."""
        body = p.body
        rendered = self._heads.get(p.context) if not p.flags & CODEC_PROTO else False
        if rendered is False:
            rendered = self._render(p.context, p.flags)
        if rendered is None:
            return None
        assert isinstance(rendered, fastreply.Head)
        ctype = sniff(body) if body and not rendered.has_type else None
        return fastreply.send(transport, rendered, body, ctype)

    def _render(self, context: bytes, flags: int) -> fastreply.Head | None:
        """Decode a reply context for the fast path and remember the result."""
        if not context:
            rendered = fastreply.head(200, ())
        else:
            try:
                reply = decode(context, flags)
            except ReplyError:
                return None  # the aiohttp path reports it
            rendered = fastreply.head(reply.status, reply.headers)
        if not flags & CODEC_PROTO:
            self._heads.put(context, rendered)
        return rendered

    async def streamed(self, request: web.BaseRequest, first: Payload,
                       frames: object) -> web.StreamResponse:
        resp: web.StreamResponse | None = None
        p: Payload | None = first
        it = frames.__aiter__()  # type: ignore[attr-defined]
        try:
            while p is not None:
                if p.context and resp is None:
                    reply = self._decode(p)
                    if isinstance(reply, web.Response):
                        return reply  # leaving the block sends STOP to the worker
                    if reply.status < 200:
                        self._interim(request, reply)
                        p = await self._next(it, p)
                        continue
                    resp = web.StreamResponse(status=reply.status,
                                              headers=self._headers(request, reply, None))
                    await self._prepare(request, resp)
                if p.body:
                    if resp is None:
                        resp = web.StreamResponse(status=200)
                        resp.headers["Content-Type"] = sniff(p.body)
                        await self._prepare(request, resp)
                    request[WRITE_BYTES] = request.get(WRITE_BYTES, 0) + len(p.body)
                    try:
                        await resp.write(p.body)
                    except ConnectionError:
                        raise _ClientGone(resp) from None
                p = await self._next(it, p)
        except PoolError as e:
            if resp is None:
                return self.pool_error(e)
            self.log.error("stream error", extra={"fields": {"error": str(e)}})
            resp.force_close()
            writer = request._payload_writer
            if isinstance(writer, H2Writer):
                writer.abort()
            return resp
        if resp is None:
            return web.Response(status=200)
        return resp

    @staticmethod
    async def _next(it: object, p: Payload) -> Payload | None:
        if not p.stream:
            return None
        try:
            return await it.__anext__()  # type: ignore[attr-defined, no-any-return]
        except StopAsyncIteration:
            return None

    @staticmethod
    async def _prepare(request: web.BaseRequest, resp: web.StreamResponse) -> None:
        finalize(request, resp)
        try:
            await resp.prepare(request)
        except ConnectionError:
            raise _ClientGone(resp) from None
