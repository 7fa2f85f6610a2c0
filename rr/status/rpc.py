"""``status.Status`` / ``status.Ready``: protobuf ``status.v1`` or JSON.

Protobuf's JSON mapping would print the int64 ``code`` as a string; the JSON codec
answers ``{"code":200}`` with a number, as RoadRunner does, so the JSON side is encoded
by hand.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from google.protobuf.message import DecodeError

from rr.errors import RRError
from rr.goridge.frame import CODEC_JSON, CODEC_PROTO, CODEC_RAW
from rr.rpc.registry import Registry
from rr.status.checks import Kind, check
from rr.status.proto import status_pb2


class StatusService:
    def __init__(self, plugins: Callable[[], dict[str, Any]]) -> None:
        self._plugins = plugins

    def register(self, registry: Registry) -> None:
        registry.register("status.Status", self._handler("health", "checker_rpc_status"))
        registry.register("status.Ready", self._handler("ready", "checker_rpc_ready"))

    def _handler(self, kind: Kind, op: str) -> Callable[[bytes, int], Awaitable[bytes]]:
        async def handle(arg: bytes, codec: int) -> bytes:
            name = _plugin_name(arg, codec)
            plugin = self._plugins().get(name)
            if plugin is None or not callable(getattr(plugin, kind, None)):
                raise RRError(f"{op}: no such plugin: {name}")
            result = await check(plugin, kind)
            if result.code is None:
                raise RRError(f"{op}: {result.error}")
            if codec == CODEC_JSON:
                return json.dumps({"code": result.code}).encode()
            return status_pb2.Response(code=result.code).SerializeToString()

        return handle


def _plugin_name(arg: bytes, codec: int) -> str:
    if codec in (CODEC_PROTO, CODEC_RAW):
        req = status_pb2.Request()
        try:
            req.ParseFromString(arg)
        except DecodeError as e:
            raise RRError(f"proto: cannot parse invalid wire-format data: {e}") from None
        return req.plugin
    if codec != CODEC_JSON:
        raise RRError(f"codec {codec:#x} is not supported by status RPC")
    try:
        value = json.loads(arg) if arg else {}
    except ValueError as e:
        raise RRError(f"invalid JSON argument: {e}") from None
    if isinstance(value, str):  # older clients send the bare plugin name
        return value
    if isinstance(value, dict):
        lowered = {str(k).lower(): v for k, v in value.items()}
        return str(lowered.get("plugin") or "")
    raise RRError('expected {"plugin": "<name>"}')
