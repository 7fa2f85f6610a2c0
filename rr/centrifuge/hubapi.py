"""Server API methods answered by the built-in hub (spec §A.5, "For a Python server"):
the same ``centrifugal.centrifugo.api`` messages PHP sends to Centrifugo, so PHP code
that publishes through ``centrifuge.Publish`` works unchanged with no Centrifugo."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Awaitable, Callable
from typing import Any

from rr.centrifuge import codes
from rr.centrifuge.codec import JSON
from rr.centrifuge.hub import Hub
from rr.centrifuge.proto import api_pb2

pb: Any = api_pb2
Method = Callable[[bytes], Awaitable[bytes]]
BAD_DATA = (107, "bad request")


def _data(raw: bytes) -> Any:
    """Publication data must be JSON for JSON clients; None when it is not."""
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def _info(d: dict[str, Any]) -> Any:
    out = pb.ClientInfo(user=d.get("user", ""), client=d.get("client", ""))
    if "conn_info" in d:
        out.conn_info = JSON.raw(d["conn_info"])
    if "chan_info" in d:
        out.chan_info = JSON.raw(d["chan_info"])
    return out


def local_methods(hub: Hub) -> dict[str, Method]:
    async def publish_one(channel: str, raw: bytes, skip: bool) -> Any:
        data = _data(raw)
        if not channel or data is None:
            return pb.PublishResponse(error=pb.Error(code=BAD_DATA[0], message=BAD_DATA[1]))
        offset, epoch = await hub.publish(channel, data, None, skip)
        return pb.PublishResponse(result=pb.PublishResult(offset=offset, epoch=epoch))

    async def publish(arg: bytes) -> bytes:
        req = pb.PublishRequest.FromString(arg)
        out = await publish_one(req.channel, req.data, req.skip_history)
        return out.SerializeToString()  # type: ignore[no-any-return]

    async def broadcast(arg: bytes) -> bytes:
        req = pb.BroadcastRequest.FromString(arg)
        result = pb.BroadcastResult()
        for ch in req.channels:
            result.responses.append(await publish_one(ch, req.data, req.skip_history))
        return pb.BroadcastResponse(result=result).SerializeToString()  # type: ignore[no-any-return]

    async def disconnect(arg: bytes) -> bytes:
        req = pb.DisconnectRequest.FromString(arg)
        code, reason = codes.FORCE_DISCONNECT
        if req.HasField("disconnect"):
            code, reason = req.disconnect.code, req.disconnect.reason
        hub.disconnect(req.user, req.client, list(req.whitelist), code, reason)
        return pb.DisconnectResponse(result=pb.DisconnectResult()).SerializeToString()  # type: ignore[no-any-return]

    async def unsubscribe(arg: bytes) -> bytes:
        req = pb.UnsubscribeRequest.FromString(arg)
        hub.server_unsubscribe(req.channel, req.user, req.client)
        return pb.UnsubscribeResponse(result=pb.UnsubscribeResult()).SerializeToString()  # type: ignore[no-any-return]

    async def presence(arg: bytes) -> bytes:
        req = pb.PresenceRequest.FromString(arg)
        result = pb.PresenceResult()
        for cid, info in hub.presence(req.channel).items():
            result.presence[cid].CopyFrom(_info(info))
        return pb.PresenceResponse(result=result).SerializeToString()  # type: ignore[no-any-return]

    async def presence_stats(arg: bytes) -> bytes:
        req = pb.PresenceStatsRequest.FromString(arg)
        clients, users = hub.presence_stats(req.channel)
        return pb.PresenceStatsResponse(result=pb.PresenceStatsResult(
            num_clients=clients, num_users=users)).SerializeToString()  # type: ignore[no-any-return]

    async def history(arg: bytes) -> bytes:
        req = pb.HistoryRequest.FromString(arg)
        if not hub.history_size:
            return pb.HistoryResponse(error=pb.Error(  # type: ignore[no-any-return]
                code=108, message="not available")).SerializeToString()
        since = (req.since.offset, req.since.epoch) if req.HasField("since") else None
        got = hub.history(req.channel, req.limit if req.limit else -1, since, req.reverse)
        if got is None:
            return pb.HistoryResponse(error=pb.Error(  # type: ignore[no-any-return]
                code=112, message="unrecoverable position")).SerializeToString()
        pubs, offset, epoch = got
        result = pb.HistoryResult(epoch=epoch, offset=offset)
        for p in pubs:
            m = result.publications.add(data=JSON.raw(p["data"]),
                                        offset=p.get("offset", 0))
            if "info" in p:
                m.info.CopyFrom(_info(p["info"]))
        return pb.HistoryResponse(result=result).SerializeToString()  # type: ignore[no-any-return]

    async def history_remove(arg: bytes) -> bytes:
        req = pb.PresenceRequest.FromString(arg)  # HistoryRemoveRequest: channel = 1
        hub.remove_history(req.channel)
        return pb.DisconnectResponse(result=pb.DisconnectResult()).SerializeToString()  # type: ignore[no-any-return]

    async def channels(arg: bytes) -> bytes:
        req = pb.ChannelsRequest.FromString(arg)
        result = pb.ChannelsResult()
        for ch, members in hub.channels.items():
            if not req.pattern or fnmatch.fnmatchcase(ch, req.pattern):
                result.channels[ch].num_clients = len(members)
        return pb.ChannelsResponse(result=result).SerializeToString()  # type: ignore[no-any-return]

    return {"Publish": publish, "Broadcast": broadcast, "Disconnect": disconnect,
            "Unsubscribe": unsubscribe, "Presence": presence, "PresenceStats": presence_stats,
            "History": history, "HistoryRemove": history_remove, "Channels": channels}
