"""The outermost request handler of a listener.

It finishes every response itself (so temp upload files can be removed only after the
last byte was handed to the socket) and writes the access log entry.
"""

from __future__ import annotations

import logging
import time

from aiohttp import web

from rr.http.accesslog import AccessLog
from rr.http.chain import UPLOADED, Handler, finalize, state
from rr.http.uploads import remove


class Entry:
    def __init__(self, chain: Handler, access: AccessLog, logger: logging.Logger) -> None:
        self.chain = chain
        self.access = access
        self.log = logger

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        logging_on = self.access.enabled()
        start = time.time_ns() if logging_on else 0
        t0 = time.perf_counter_ns() if logging_on else 0
        resp: web.StreamResponse | None = None
        try:
            try:
                resp = await self.chain(request)
            except Exception:  # noqa: BLE001 - never let a bug kill the connection silently
                self.log.exception("http handler failed")
                resp = web.Response(status=500)
            # The worker is done with the uploads once the chain returned. Remove them
            # before the last bytes leave, as RoadRunner does (its deferred cleanup runs
            # before Go flushes the buffered response): a client that has its answer can
            # rely on the files being gone.
            created = state(request).get(UPLOADED)
            if created:
                request[UPLOADED] = None
                remove(created)
            if isinstance(resp, web.FileResponse) and not resp.prepared:
                # FileResponse.prepare is not idempotent: aiohttp sends it after we return
                finalize(request, resp)
                return resp
            await send_out(request, resp)
            return resp
        finally:
            created = state(request).get(UPLOADED)
            if created:
                remove(created)
            if logging_on:
                self.access.emit(request, resp, start, time.perf_counter_ns() - t0)


async def send_out(request: web.BaseRequest, resp: web.StreamResponse) -> bool:
    """Run the hooks, send the head if not yet sent, end the body; False if the client
    went away meanwhile."""
    try:
        if not resp.prepared:
            finalize(request, resp)
            await resp.prepare(request)
        await resp.write_eof()
    except ConnectionError:
        return False
    return True
