"""The built-in endpoint against the official Python client (centrifuge-python): connect
through the PHP connect handler, subscribe, publish, rpc, presence, history recovery,
and PHP's centrifuge.* RPC acting on the hub."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from centrifuge import (
    Client,
    ClientEventHandler,
    PublicationContext,
    ReplyError,
    SubscriptionEventHandler,
)
from centrifuge.contexts import DisconnectedContext, ServerPublicationContext

from tests.centrifuge.conftest import CentrifugeRR, Start

WS_EXTRA = "    history_size: 100\n    presence: true\n    allowed_origins: ['http://good.example']\n"


@pytest.fixture
def ws_rr(start_rr: Start) -> CentrifugeRR:
    return start_rr(ws=True, ws_extra=WS_EXTRA)


class Inbox(SubscriptionEventHandler):
    def __init__(self) -> None:
        self.pubs: asyncio.Queue[Any] = asyncio.Queue()

    async def on_publication(self, ctx: PublicationContext) -> None:
        await self.pubs.put(ctx.pub)


class Events(ClientEventHandler):
    def __init__(self) -> None:
        self.disconnected: asyncio.Queue[DisconnectedContext] = asyncio.Queue()
        self.server_pubs: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    async def on_disconnected(self, ctx: DisconnectedContext) -> None:
        await self.disconnected.put(ctx)

    async def on_publication(self, ctx: ServerPublicationContext) -> None:
        await self.server_pubs.put((ctx.channel, ctx.pub))


async def client(c: CentrifugeRR, data: Any = None, events: Any = None) -> Client:
    cl = Client(c.ws_url, data=data, events=events, timeout=30, proxy=None)
    await cl.connect()
    await cl.ready(timeout=30)
    return cl


@pytest.fixture
async def clients() -> AsyncIterator[list[Client]]:
    made: list[Client] = []
    yield made
    for cl in made:
        await cl.disconnect()


async def test_subscribe_publish_own_and_others(ws_rr: CentrifugeRR,
                                                clients: list[Client]) -> None:
    alice = await client(ws_rr, {"user": "alice"})
    bob = await client(ws_rr, {"user": "bob"})
    clients += [alice, bob]
    inbox_a, inbox_b = Inbox(), Inbox()
    sub_a = alice.new_subscription("chat", inbox_a)
    sub_b = bob.new_subscription("chat", inbox_b)
    await sub_a.subscribe()
    await sub_b.subscribe()
    await sub_a.ready(30)
    await sub_b.ready(30)
    await sub_a.publish({"text": "hi"})
    for inbox in (inbox_a, inbox_b):
        pub = await asyncio.wait_for(inbox.pubs.get(), 30)
        assert pub.data == {"text": "hi"}
        assert pub.info.user == "alice" and pub.info.conn_info == {"name": "alice"}
        assert pub.offset == 1
    # the PHP publish handler rewrites data on rewrite* channels
    rw = bob.new_subscription("rewrite", inbox_b)
    await rw.subscribe()
    await rw.ready(30)
    await rw.publish({"n": 1})
    pub = await asyncio.wait_for(inbox_b.pubs.get(), 30)
    assert pub.data == {"rewritten": {"n": 1}}


async def test_forbidden_channel_and_readonly(ws_rr: CentrifugeRR,
                                              clients: list[Client]) -> None:
    cl = await client(ws_rr, {"user": "u"})
    clients.append(cl)
    errors: asyncio.Queue[Any] = asyncio.Queue()

    class Watch(SubscriptionEventHandler):
        async def on_unsubscribed(self, ctx: Any) -> None:
            await errors.put(ctx)

    sub = cl.new_subscription("forbidden:x", Watch())
    await sub.subscribe()
    ctx = await asyncio.wait_for(errors.get(), 30)
    assert ctx.code == 103
    with pytest.raises(ReplyError) as e:
        await cl.publish("readonly:x", {"a": 1})
    assert e.value.code == 103


async def test_rpc_presence_and_php_publish(ws_rr: CentrifugeRR,
                                            clients: list[Client]) -> None:
    ev = Events()
    cl = await client(ws_rr, {"user": "carol"}, ev)
    clients.append(cl)
    echo = await cl.rpc("echo", {"q": 1})
    assert echo.data["data"] == {"q": 1} and echo.data["user"] == "carol"
    assert echo.data["transport"] == "websocket" and echo.data["meta"] == {"m": "carol"}
    with pytest.raises(ReplyError) as e:
        await cl.rpc("nope", {})
    assert e.value.code == 104
    inbox = Inbox()
    sub = cl.new_subscription("news", inbox)
    await sub.subscribe()
    await sub.ready(30)
    presence = await sub.presence()
    assert [i.user for i in presence.clients.values()] == ["carol"]
    stats = await sub.presence_stats()
    assert (stats.num_clients, stats.num_users) == (1, 1)
    # PHP code publishing through centrifuge.Publish reaches the hub, no Centrifugo needed
    await cl.rpc("publish", {"channel": "news", "message": {"from": "php"}})
    pub = await asyncio.wait_for(inbox.pubs.get(), 30)
    assert pub.data == {"from": "php"}
    php_presence = await cl.rpc("presence", {"channel": "news"})
    assert [v["user"] for v in php_presence.data["presence"].values()] == ["carol"]
    assert ws_rr.api.calls == []  # the stand-in Centrifugo was never asked


async def test_php_disconnect_kicks_the_user(ws_rr: CentrifugeRR, clients: list[Client]) -> None:
    ev = Events()
    victim = await client(ws_rr, {"user": "mallory"}, ev)
    admin = await client(ws_rr, {"user": "admin"})
    clients += [victim, admin]
    await admin.rpc("kick", {"user": "mallory", "code": 4501, "reason": "bye"})
    ctx = await asyncio.wait_for(ev.disconnected.get(), 30)
    assert ctx.code == 4501


async def test_connect_rejected_by_php(ws_rr: CentrifugeRR) -> None:
    ev = Events()
    cl = Client(ws_rr.ws_url, data={"ban": True}, events=ev, timeout=30, proxy=None)
    await cl.connect()
    ctx = await asyncio.wait_for(ev.disconnected.get(), 30)
    assert ctx.code == 4501
    await cl.disconnect()


async def test_history_recovery_after_reconnect(ws_rr: CentrifugeRR,
                                                clients: list[Client]) -> None:
    publisher = await client(ws_rr, {"user": "p"})
    clients.append(publisher)
    await publisher.publish("feed", {"n": 0})
    reader = Client(ws_rr.ws_url, data={"user": "r"}, timeout=30, proxy=None)
    inbox = Inbox()
    sub = reader.new_subscription("feed", inbox, recoverable=True)
    await reader.connect()
    await sub.subscribe()
    await sub.ready(30)
    await publisher.publish("feed", {"n": 1})
    assert (await asyncio.wait_for(inbox.pubs.get(), 30)).data == {"n": 1}
    # reader's socket drops; publications meanwhile are recovered on resubscribe
    await reader.disconnect()
    await publisher.publish("feed", {"n": 2})
    await publisher.publish("feed", {"n": 3})
    await reader.connect()
    await sub.subscribe()
    got = [(await asyncio.wait_for(inbox.pubs.get(), 30)).data for _ in range(2)]
    assert got == [{"n": 2}, {"n": 3}]
    history = await sub.history(limit=10)
    assert [p.data for p in history.publications] == [{"n": i} for i in range(4)]
    await reader.disconnect()


async def test_server_side_subscription_from_connect(ws_rr: CentrifugeRR,
                                                     clients: list[Client]) -> None:
    ev = Events()
    cl = await client(ws_rr, {"user": "dave", "server_subs": ["personal:dave"]}, ev)
    clients.append(cl)
    await cl.rpc("publish", {"channel": "personal:dave", "message": {"dm": 1}})
    channel, pub = await asyncio.wait_for(ev.server_pubs.get(), 30)
    assert channel == "personal:dave" and pub.data == {"dm": 1}


def test_json_of_wire(ws_rr: CentrifugeRR) -> None:
    """Two commands batched in one frame get two replies; no raw newline inside one."""
    async def run() -> list[str]:
        import aiohttp
        async with aiohttp.ClientSession() as s, s.ws_connect(ws_rr.ws_url) as ws:
            await ws.send_str('{"id":1,"connect":{"data":{"user":"w"}}}\n'
                              '{"id":2,"subscribe":{"channel":"a"}}')
            lines: list[str] = []
            while len(lines) < 2:
                msg = await asyncio.wait_for(ws.receive(), 30)
                lines += msg.data.strip().split("\n")
            return lines
    lines = asyncio.run(run())
    first, second = (json.loads(x) for x in lines)
    assert first["id"] == 1 and first["connect"]["pong"] is True
    assert second == {"id": 2, "subscribe": {"recoverable": True, "epoch": second[
        "subscribe"]["epoch"], "offset": 0, "data": {"welcome": "a"}}}
