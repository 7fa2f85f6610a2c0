"""The gRPC client of Centrifugo's server API (spec §A.5): raw protobuf both ways.

The channel dials lazily, so rr starts while Centrifugo is down and a call made then
fails with the gRPC error text, as RoadRunner's does.
"""

from __future__ import annotations

from pathlib import Path

import grpc

from rr.centrifuge.config import CentrifugeConfig

SERVICE = "centrifugal.centrifugo.api.CentrifugoApi"
METHODS = (
    "Batch", "Publish", "Broadcast", "Subscribe", "Unsubscribe", "Disconnect", "Presence",
    "PresenceStats", "History", "HistoryRemove", "Info", "RPC", "Refresh", "Channels",
    "Connections", "UpdateUserStatus", "GetUserStatus", "DeleteUserStatus", "BlockUser",
    "UnblockUser", "RevokeToken", "InvalidateUserTokens", "DeviceRegister", "DeviceUpdate",
    "DeviceRemove", "DeviceList", "DeviceTopicList", "DeviceTopicUpdate", "UserTopicList",
    "UserTopicUpdate", "SendPushNotification", "UpdatePushStatus", "CancelPush", "RateLimit",
)


class ApiClient:
    def __init__(self, cfg: CentrifugeConfig) -> None:
        if cfg.tls is not None:
            creds = grpc.ssl_channel_credentials(
                private_key=Path(cfg.tls.key).read_bytes(),
                certificate_chain=Path(cfg.tls.cert).read_bytes())
            self._channel = grpc.aio.secure_channel(cfg.api_address, creds)
        else:
            self._channel = grpc.aio.insecure_channel(cfg.api_address)
        self._compression = grpc.Compression.Gzip if cfg.use_compressor else None

    async def call(self, method: str, body: bytes) -> bytes:
        stub = self._channel.unary_unary(f"/{SERVICE}/{method}")
        try:
            out: bytes = await stub(body, compression=self._compression)
        except grpc.aio.AioRpcError as e:
            raise ApiError(_go_text(e)) from None
        return out

    async def close(self) -> None:
        await self._channel.close()


class ApiError(Exception):
    """A transport failure, worded like grpc-go's status error."""


def _go_text(e: grpc.aio.AioRpcError) -> str:
    code = e.code()
    name = "".join(p.capitalize() for p in code.name.split("_")) if code else "Unknown"
    name = "Canceled" if name == "Cancelled" else name
    return f"rpc error: code = {name} desc = {e.details()}"
