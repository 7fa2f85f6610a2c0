"""``centrifuge.<Method>`` RPC (spec §A.5): protobuf in, protobuf out.

With the built-in endpoint on, the methods the hub can answer (publish, broadcast,
disconnect, unsubscribe, presence, history, channels) act on it and need no Centrifugo;
every other method, and all of them without the hub, go to ``grpc_api_address`` as raw
bytes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from rr.centrifuge.api import METHODS, ApiError
from rr.rpc.registry import Registry, RPCError

if TYPE_CHECKING:
    from rr.centrifuge.plugin import CentrifugePlugin

NOT_READY = "RoadRunner is not ready yet, try in a few seconds"


def register(rpc: Registry, plugin: CentrifugePlugin) -> None:
    for method in METHODS:
        rpc.register(f"centrifuge.{method}", _handler(plugin, method))


def _handler(plugin: CentrifugePlugin, method: str) -> Callable[[bytes, int],
                                                                  Awaitable[bytes]]:
    async def handler(arg: bytes, codec: int) -> bytes:
        if not plugin.started:
            raise RPCError(NOT_READY)
        local = plugin.local_api(method)
        if local is not None:
            return await local(arg)
        if plugin.api is None:
            raise RPCError(NOT_READY)
        try:
            return await plugin.api.call(method, arg)
        except ApiError as e:
            raise RPCError(str(e)) from None
    return handler
