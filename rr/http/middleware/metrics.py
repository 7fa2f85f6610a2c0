"""``http_metrics``: per-status request counter and duration histogram (spec §11.4).

The status is read from the response the inner chain returns, so static files, CORS
preflights and the server's own 413/500/503 answers are counted like PHP's replies. A
streamed response is already prepared when it comes back, and its status is final then.
"""

from __future__ import annotations

import time

from aiohttp import web

from rr.http.chain import Handler, Middleware
from rr.metrics.http import HttpMetrics


def build(metrics: HttpMetrics) -> Middleware:
    record = metrics.request
    queued = metrics.queued

    def wrap(inner: Handler) -> Handler:
        async def handle(request: web.BaseRequest) -> web.StreamResponse:
            started = time.perf_counter()
            # the reference counts a request as queued from the moment the middleware sees
            # it until its handler returns, i.e. while it waits for or occupies a worker
            with queued():
                try:
                    resp = await inner(request)
                except Exception:
                    # Entry turns an escaped exception into a plain 500: count it so
                    record(500, time.perf_counter() - started)
                    raise
            record(resp.status, time.perf_counter() - started)
            return resp

        return handle

    return wrap
