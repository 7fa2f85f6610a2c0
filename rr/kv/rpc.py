"""``kv.*`` RPC methods (protobuf ``kv.v1``; the JSON codec works too).

Input validation lives here so that every driver rejects bad requests with the same
texts RoadRunner uses (spec/kv.md §2.2); PHP matches on substrings of some of them
(``no such storage``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from rr.errors import RRError
from rr.kv.proto import kv_pb2
from rr.kv.storage import Entry, Storage, format_timeout, parse_timeout
from rr.rpc.registry import Registry

NO_KEYS = "should provide at least 1 key"
EMPTY_KEY = "key can't be empty string"
NO_TIMEOUT = "should set timeout and at least one key"


class KVService:
    def __init__(self, storages: Mapping[str, Storage]) -> None:
        self.storages = storages

    def register(self, registry: Registry) -> None:
        handlers: dict[str, Callable[[kv_pb2.Request], object]] = {
            "kv.Has": self.has, "kv.Set": self.set, "kv.MGet": self.mget,
            "kv.MExpire": self.mexpire, "kv.TTL": self.ttl, "kv.Delete": self.delete,
            "kv.Clear": self.clear,
        }
        for method, fn in handlers.items():
            registry.proto(method, kv_pb2.Request, fn)  # type: ignore[arg-type]

    # helpers --------------------------------------------------------------------------
    def _storage(self, op: str, req: kv_pb2.Request) -> Storage:
        if not req.storage:
            raise RRError(f"{op}: no storage provided")
        storage = self.storages.get(req.storage)
        if storage is None:
            raise RRError(f"{op}: no such storage: {req.storage}")
        return storage

    @staticmethod
    def _keys(op: str, req: kv_pb2.Request) -> list[str]:
        if not req.items:
            raise RRError(f"{op}: {NO_KEYS}")
        keys = [item.key for item in req.items]
        if any(not k.strip() for k in keys):
            raise RRError(f"{op}: {EMPTY_KEY}")
        return keys

    # methods --------------------------------------------------------------------------
    async def has(self, req: kv_pb2.Request) -> kv_pb2.Response:
        storage = self._storage("kv_rpc_has", req)
        found = await storage.has(self._keys("kv_rpc_has", req))
        return kv_pb2.Response(items=[kv_pb2.Item(key=k) for k in dict.fromkeys(found)])

    async def set(self, req: kv_pb2.Request) -> None:
        storage = self._storage("kv_rpc_set", req)
        if not req.items:
            raise RRError(f"kv_rpc_set: {NO_KEYS}")
        entries = [Entry(item.key, item.value,
                         parse_timeout(item.timeout) if item.timeout else None)
                   for item in req.items]
        await storage.set(entries)
        return None

    async def mget(self, req: kv_pb2.Request) -> kv_pb2.Response:
        storage = self._storage("kv_rpc_mget", req)
        found = await storage.mget(self._keys("kv_rpc_mget", req))
        return kv_pb2.Response(items=[kv_pb2.Item(key=k, value=v) for k, v in found.items()])

    async def mexpire(self, req: kv_pb2.Request) -> None:
        storage = self._storage("kv_rpc_mexpire", req)
        if not req.items:
            raise RRError(f"kv_rpc_mexpire: {NO_TIMEOUT}")
        expiries: dict[str, float] = {}
        for item in req.items:
            if not item.key.strip() or not item.timeout:
                raise RRError(f"kv_rpc_mexpire: {NO_TIMEOUT}")
            expiries[item.key] = parse_timeout(item.timeout)
        await storage.mexpire(expiries)
        return None

    async def ttl(self, req: kv_pb2.Request) -> kv_pb2.Response:
        storage = self._storage("kv_rpc_ttl", req)
        found = await storage.ttl(self._keys("kv_rpc_ttl", req))
        return kv_pb2.Response(items=[
            kv_pb2.Item(key=k, timeout="" if at is None else format_timeout(at))
            for k, at in found.items()])

    async def delete(self, req: kv_pb2.Request) -> None:
        storage = self._storage("kv_rpc_delete", req)
        await storage.delete(self._keys("kv_rpc_delete", req))
        return None

    async def clear(self, req: kv_pb2.Request) -> None:
        storage = self._storage("kv_rpc_clear", req)
        await storage.clear()
        return None
