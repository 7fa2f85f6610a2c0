"""What the native front does for each ``:path``: proxy a unary call to PHP, answer
health from the plugin state, serve reflection, or refuse (spec/grpc.md §3.3).

The table is built once at start; unknown paths get a refusal made on the spot, so a
client that sends random paths grows nothing.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from enum import IntEnum

from rr.grpc import health, request
from rr.grpc.protos import Kind, ProtoSet
from rr.grpc.proxy import refusal_text, streaming_text

Local = Callable[[bytes], bytes]
ServerStream = Callable[[bytes], AsyncIterator[bytes]]
Bidi = Callable[[AsyncIterator[bytes]], AsyncIterator[bytes]]


class RouteKind(IntEnum):
    PROXY = 0  # unary, one PHP worker call
    LOCAL = 1  # unary answered in rr (health Check/List)
    SERVER_STREAM = 2  # health Watch
    BIDI = 3  # reflection
    REFUSE = 4  # UNIMPLEMENTED at once, the request is never read


@dataclass(frozen=True, slots=True)
class Route:
    kind: RouteKind
    path: str
    prefix: bytes = b""  # PROXY: the request context up to the metadata
    local: Local | None = None
    stream: ServerStream | None = None
    bidi: Bidi | None = None
    text: str = ""  # REFUSE: the status message


class Routes:
    def __init__(self, protos: ProtoSet, state: health.HealthState, log: logging.Logger,
                 reflection: bool = True) -> None:
        self._services = set(protos.services)
        table: dict[bytes, Route] = {}
        for m in protos.methods():
            if m.kind is Kind.UNARY:
                route = Route(RouteKind.PROXY, m.path, prefix=request.prefix(m.service, m.name))
            else:
                route = Route(RouteKind.REFUSE, m.path, text=streaming_text(m))
            table[m.path.encode()] = route
        h = f"/{health.SERVICE}/"
        table[(h + "Check").encode()] = Route(RouteKind.LOCAL, h + "Check",
                                              local=lambda _: health.check_reply(state))
        table[(h + "List").encode()] = Route(RouteKind.LOCAL, h + "List",
                                             local=lambda _: health.list_reply(state))
        table[(h + "Watch").encode()] = Route(RouteKind.SERVER_STREAM, h + "Watch",
                                              stream=lambda _: health.watch_replies(state))
        if reflection:
            from rr.grpc import reflection as refl

            path = refl.native_path()
            table[path.encode()] = Route(RouteKind.BIDI, path,
                                         bidi=refl.native_handler(protos, log))
        self._table = table

    def get(self, path: bytes) -> Route:
        found = self._table.get(path)
        if found is not None:
            return found
        text = path.decode("utf-8", "replace")
        return Route(RouteKind.REFUSE, text, text=refusal_text(text, self._services))
