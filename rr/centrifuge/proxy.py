"""Centrifugo's proxy calls (spec/centrifuge.md §A.3): each becomes one PHP request.

Bodies stay raw bytes: the request is already the protobuf PHP expects and the worker's
reply is the protobuf Centrifugo expects, so nothing is decoded on the way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import grpc

from rr.goridge.frame import CODEC_PROTO
from rr.pool.errors import PoolError, StreamingNotSupportedError
from rr.pool.payload import Payload
from rr.pool.pool import Pool

SERVICE = "centrifugal.centrifugo.proxy.CentrifugoProxy"
# gRPC method → the ``type`` PHP gets; RoadRunner spells sub_refresh without underscore
TYPES = {"Connect": "connect", "Refresh": "refresh", "Subscribe": "subscribe",
         "Publish": "publish", "RPC": "rpc", "SubRefresh": "subrefresh"}
# NotifyChannelState is not forwarded: the PHP SDK cannot parse it and its worker loop
# then never replies, which would hold a worker until exec_ttl (spec §A.3.4 hazard)
REFUSED = ("NotifyChannelState", "SubscribeUnidirectional", "SubscribeBidirectional")
Context = Any  # grpc.aio.ServicerContext
_dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode


def context_json(metadata: Any, kind: str) -> bytes:
    """The metadata as Go's JSON of map[string][]string, plus ``type`` (§A.3.2)."""
    md: dict[str, list[str]] = {}
    for key, value in metadata or ():
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        md.setdefault(key, []).append(value)
    md["type"] = [kind]
    return _dumps(md).encode()


async def call_worker(pool: Pool, kind: str, body: bytes, metadata: Any = ()) -> bytes:
    """One request to PHP; its reply body (the method's response message)."""
    try:
        answer = await pool.exec(Payload(context_json(metadata, kind), body, CODEC_PROTO))
    except StreamingNotSupportedError:
        raise PoolError("streaming response not supported") from None
    return answer.body


class ProxyHandler(grpc.GenericRpcHandler):
    def __init__(self, pool: Callable[[], Pool]) -> None:
        self._pool = pool
        self._table = {f"/{SERVICE}/{m}": grpc.unary_unary_rpc_method_handler(
            self._forward(t)) for m, t in TYPES.items()}

    def _forward(self, kind: str) -> Callable[[bytes, Context], Any]:
        async def forward(body: bytes, ctx: Context) -> bytes:
            md = list(ctx.invocation_metadata() or ())
            try:
                return await call_worker(self._pool(), kind, body, md)
            except Exception as e:  # noqa: BLE001 - grpc-go answers Unknown with the text
                await ctx.abort(grpc.StatusCode.UNKNOWN, str(e))
                raise AssertionError("unreachable") from None
        return forward

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        found = self._table.get(details.method)
        if found is not None:
            return found
        if details.method.startswith(f"/{SERVICE}/"):
            return _refusal()
        return None


def _refusal() -> grpc.RpcMethodHandler:
    async def refuse(requests: Any, ctx: Context) -> None:
        await ctx.abort(grpc.StatusCode.UNKNOWN, "not supported")

    return grpc.stream_stream_rpc_method_handler(refuse)
