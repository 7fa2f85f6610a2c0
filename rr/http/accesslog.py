"""The per-request INFO entry of logger ``http`` (spec/http-payload.md §11.5).

Laravel Octane parses ``http log`` entries (``status``, ``method``, ``URL``, ``elapsed``,
``remote_address``) from the JSON log to print its request lines, so the field names are
part of the contract. Formatting is rr/logs.py's job; fields travel in ``extra``.
"""

from __future__ import annotations

import logging
import time

from aiohttp import web

from rr.http.chain import READ_BYTES
from rr.http.context import REMOTE_ADDR


def _remote(request: web.BaseRequest) -> str:
    chosen = request.get(REMOTE_ADDR)
    if chosen is not None:
        return str(chosen)
    transport = request.transport
    peer = transport.get_extra_info("peername") if transport is not None else None
    if isinstance(peer, (tuple, list)) and len(peer) >= 2:
        host = str(peer[0])
        return f"[{host}]:{peer[1]}" if ":" in host else f"{host}:{peer[1]}"
    return ""


WRITE_BYTES = "rr.write_bytes"  # body bytes of a streamed response


def _written(request: web.BaseRequest, response: web.StreamResponse | None) -> int:
    if response is None:
        return 0
    streamed = request.get(WRITE_BYTES)
    if streamed is not None:
        return int(streamed)
    return response.content_length or 0


class AccessLog:
    def __init__(self, logger: logging.Logger, detailed: bool) -> None:
        self.log = logger
        self.detailed = detailed

    def enabled(self) -> bool:
        return self.log.isEnabledFor(logging.INFO)

    def emit(self, request: web.BaseRequest, response: web.StreamResponse | None,
             start_ns: int, elapsed_ns: int) -> None:
        target = request.raw_path
        fields: dict[str, object] = {
            "status": response.status if response is not None else 0,
            "method": request.method,
            "URI": target,
            "URL": target,
            "remote_address": _remote(request),
            "read_bytes": request.get(READ_BYTES, 0),
            "write_bytes": _written(request, response),
            "start": start_ns,
            "elapsed": elapsed_ns // 1_000_000,
        }
        if not self.detailed:
            self.log.info("http log", extra={"fields": fields})
            return
        headers = request.headers
        q = target.find("?")
        fields.update({
            "query": target[q + 1:] if q >= 0 else "",
            "content_len": request.content_length if request.content_length is not None else -1,
            "host": headers.get("Host", ""),
            "user_agent": headers.get("User-Agent", ""),
            "referer": headers.get("Referer", ""),
            "time_local": time.strftime("%d/%b/%Y:%H:%M:%S %z", time.localtime(start_ns / 1e9)),
            "request_time": time.time_ns(),
        })
        self.log.info("http access log", extra={"fields": fields})
