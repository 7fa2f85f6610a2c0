"""Join / leave pushes (spec §B.7): with ``websocket.join_leave: true`` a subscription
that asked for them (``join_leave`` in the subscribe command) gets a push when a client
subscribes to or leaves the channel; nobody else does."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from centrifuge import Client, SubscriptionEventHandler
from centrifuge.contexts import JoinContext, LeaveContext

from tests.centrifuge.conftest import CentrifugeRR, Start
from tests.centrifuge.rawws import RawWS


class Watch(SubscriptionEventHandler):
    def __init__(self) -> None:
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    async def on_join(self, ctx: JoinContext) -> None:
        await self.events.put(("join", ctx.info))

    async def on_leave(self, ctx: LeaveContext) -> None:
        await self.events.put(("leave", ctx.info))


async def joined(c: CentrifugeRR, user: str, channel: str, watch: Watch,
                 protobuf: bool = False) -> Client:
    data: Any = {"user": user}
    cl = Client(c.ws_url, data=json.dumps(data).encode() if protobuf else data, timeout=30,
                proxy=None, use_protobuf=protobuf)
    sub = cl.new_subscription(channel, watch, join_leave=True)
    await cl.connect()
    await sub.subscribe()
    await sub.ready(30)
    return cl


async def next_event(w: Watch) -> tuple[str, str, Any]:
    kind, info = await asyncio.wait_for(w.events.get(), 30)
    return kind, info.user, info.conn_info


async def test_join_and_leave_reach_subscribers_that_asked(start_rr: Start) -> None:
    c = start_rr(ws=True, ws_extra="    join_leave: true\n")
    wa, wb = Watch(), Watch()
    alice = await joined(c, "alice", "room", wa)
    assert await next_event(wa) == ("join", "alice", {"name": "alice"})  # its own join
    bob = await joined(c, "bob", "room", wb, protobuf=True)
    assert await next_event(wa) == ("join", "bob", {"name": "bob"})
    kind, user, conn_info = await next_event(wb)
    assert (kind, user, json.loads(conn_info)) == ("join", "bob", {"name": "bob"})
    await bob.disconnect()
    assert await next_event(wa) == ("leave", "bob", {"name": "bob"})
    await alice.disconnect()


def raw_sub(c: CentrifugeRR, user: str, join_leave: bool) -> RawWS:
    ws = RawWS(c.ws_port)
    ws.send(json.dumps({"id": 1, "connect": {"data": {"user": user}}}))
    ws.text()
    sub: dict[str, Any] = {"channel": "hall"}
    if join_leave:
        sub["join_leave"] = True
    ws.ask({"id": 2, "subscribe": sub})
    return ws


@pytest.mark.parametrize("enabled, asked", [(True, False), (False, True)])
def test_no_pushes_unless_enabled_and_asked(start_rr: Start, enabled: bool,
                                            asked: bool) -> None:
    c = start_rr(ws=True, ws_extra=f"    join_leave: {str(enabled).lower()}\n")
    quiet = raw_sub(c, "quiet", asked)
    other = raw_sub(c, "other", True)
    other.close()
    quiet.ask({"id": 3, "publish": {"channel": "hall", "data": {"n": 1}}})
    # the first push it sees is the publication: no join / leave came before it
    push = quiet.push()
    assert push["pub"]["data"] == {"n": 1}
    quiet.close()


def test_php_unsubscribe_is_a_leave(start_rr: Start) -> None:
    c = start_rr(ws=True, ws_extra="    join_leave: true\n")
    watcher = raw_sub(c, "watcher", True)
    assert watcher.push()["join"]["info"]["user"] == "watcher"
    victim = raw_sub(c, "victim", False)
    assert watcher.push()["join"]["info"]["user"] == "victim"
    victim.ask({"id": 3, "rpc": {"method": "api", "data": {
        "method": "Unsubscribe", "body": unsubscribe_body("hall", "victim")}}})
    push = watcher.push()
    assert push["channel"] == "hall" and push["leave"]["info"]["user"] == "victim"
    watcher.close()
    victim.close()


def unsubscribe_body(channel: str, user: str) -> str:
    from rr.centrifuge.proto import api_pb2

    req: Any = api_pb2.UnsubscribeRequest(channel=channel, user=user)  # type: ignore[attr-defined]
    return str(req.SerializeToString().hex())


def test_join_and_leave_cross_instances_through_redis(start_rr: Start) -> None:
    extra = "    join_leave: true\n    redis: redis://127.0.0.1:6379/0\n"
    a = start_rr(ws=True, ws_extra=extra, sub="a")
    b = start_rr(ws=True, ws_extra=extra, sub="b")
    channel = f"hall-{uuid.uuid4().hex}"  # the Redis server is shared
    watcher = RawWS(b.ws_port)
    watcher.ask({"id": 1, "connect": {"data": {"user": "watcher"}}})
    watcher.ask({"id": 2, "subscribe": {"channel": channel, "join_leave": True}})
    assert watcher.push()["join"]["info"]["user"] == "watcher"
    visitor = RawWS(a.ws_port)
    visitor.ask({"id": 1, "connect": {"data": {"user": "visitor"}}})
    visitor.ask({"id": 2, "subscribe": {"channel": channel}})
    join = watcher.push()
    assert join["channel"] == channel
    info = join["join"]["info"]
    assert (info["user"], info["conn_info"], info["chan_info"]) == (
        "visitor", {"name": "visitor"}, {"ch": channel})
    visitor.close()
    push = watcher.push()
    assert push["channel"] == channel and push["leave"]["info"]["user"] == "visitor"
    watcher.close()
