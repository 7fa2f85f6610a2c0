"""How handlers and middleware fit together.

A handler takes a request and returns a response that is either already prepared (a
stream) or still unprepared (the entry point prepares it). Middleware that must touch the
response *before* its headers leave register a hook instead of post-processing, because a
streamed response is sent while the handler is still running.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
Middleware = Callable[[Handler], Handler]
Hook = Callable[[web.BaseRequest, web.StreamResponse], None]

HOOKS = "rr.hooks"
LATE_HOOKS = "rr.late_hooks"   # run after all others (gzip must see the final headers)
UPLOADED = "rr.uploaded"       # temp files to delete once the response is written
READ_BYTES = "rr.read_bytes"


def add_hook(request: web.BaseRequest, hook: Hook, late: bool = False) -> None:
    key = LATE_HOOKS if late else HOOKS
    hooks = request.get(key)
    if hooks is None:
        request[key] = [hook]
    else:
        hooks.append(hook)


def state(request: web.BaseRequest) -> dict[Any, Any]:
    """The request's own mapping as a dict.

    ``request.get`` is the generic ``Mapping.get``, which raises and catches KeyError for
    every absent key; the hot path asks for several keys that are absent on almost every
    request (hooks, uploads, middleware data), so it reads the dict behind it directly."""
    return request._state


def has_hooks(request: web.BaseRequest) -> bool:
    st = request._state
    return bool(st.get(HOOKS) or st.get(LATE_HOOKS))


def finalize(request: web.BaseRequest, response: web.StreamResponse) -> None:
    """Run the registered hooks once, right before the response headers are sent."""
    for key in (HOOKS, LATE_HOOKS):
        hooks = request.get(key)
        if hooks:
            request[key] = None
            for hook in hooks:
                hook(request, response)


def text_response(status: int, text: str) -> web.Response:
    """RoadRunner's own error helper: plain text, nosniff."""
    return web.Response(status=status, body=text.encode(), headers={
        "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"})
