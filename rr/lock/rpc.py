"""``lock.*`` RPC methods (protobuf ``lock.v1beta1``; the JSON codec works too).

Running out of time is never an error: it is ``ok: false``. The one error is an empty
owner id, for every method but ForceRelease (spec/lock.md §3).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from rr.lock.proto.lock_pb2 import Request, Response
from rr.lock.table import LockTable
from rr.rpc.registry import Registry, RPCError
from rr.rpc.server import peer_closed

EMPTY_ID = "empty ID is not allowed"


def _micros(value: int) -> int:
    """A negative TTL or wait (the PHP SDK only assert()s against them) counts as 0;
    RoadRunner would arm a timer that has already fired."""
    return max(value, 0)


def _owner(req: Request) -> str:
    if not req.id:
        raise RPCError(EMPTY_ID)
    return req.id


class LockService:
    def __init__(self, table: LockTable) -> None:
        self.table = table

    def register(self, registry: Registry) -> None:
        handlers: dict[str, Callable[[Request], Awaitable[Response]]] = {
            "lock.Lock": self.lock, "lock.LockRead": self.lock_read,
            "lock.Release": self.release, "lock.ForceRelease": self.force_release,
            "lock.Exists": self.exists, "lock.UpdateTTL": self.update_ttl,
        }
        for method, fn in handlers.items():
            registry.proto(method, Request, fn)

    async def lock(self, req: Request) -> Response:
        ok = await self.table.lock(req.resource, _owner(req), _micros(req.ttl),
                                   _micros(req.wait), peer_closed())
        return Response(ok=ok)

    async def lock_read(self, req: Request) -> Response:
        ok = await self.table.lock_read(req.resource, _owner(req), _micros(req.ttl),
                                        _micros(req.wait), peer_closed())
        return Response(ok=ok)

    async def release(self, req: Request) -> Response:
        return Response(ok=self.table.release(req.resource, _owner(req)))

    async def force_release(self, req: Request) -> Response:
        return Response(ok=self.table.force_release(req.resource))

    async def exists(self, req: Request) -> Response:
        return Response(ok=self.table.exists(req.resource, _owner(req)))

    async def update_ttl(self, req: Request) -> Response:
        return Response(ok=self.table.update_ttl(req.resource, _owner(req), _micros(req.ttl)))
