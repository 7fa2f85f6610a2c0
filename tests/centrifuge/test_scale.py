"""1000 connections on one rr with a broadcast reaching all, the connection and
subscription gauges, /ready, ping/pong, and publications across two rr instances
through Redis."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from typing import Any

import aiohttp

from tests.centrifuge.conftest import Start
from tests.centrifuge.rawws import RawWS
from tests.helpers import free_port

N = 1000


async def subscriber(session: aiohttp.ClientSession, url: str, channel: str,
                     ready: asyncio.Queue[int], got: asyncio.Queue[Any],
                     done: asyncio.Event) -> None:
    async with session.ws_connect(url, timeout=aiohttp.ClientWSTimeout(ws_close=60)) as ws:
        await ws.send_str('{"id":1,"connect":{}}\n'
                          '{"id":2,"subscribe":{"channel":"' + channel + '"}}')
        seen = 0
        while True:
            msg = await ws.receive()
            if msg.type != aiohttp.WSMsgType.TEXT:
                return
            for line in msg.data.split("\n"):
                m = json.loads(line)
                if m.get("id") == 2:
                    await ready.put(1)
                elif "push" in m:
                    await got.put(m["push"]["pub"]["data"])
                    seen += 1
                elif m == {}:
                    await ws.send_str("{}")
            if done.is_set() and seen:
                return


def metric(port: int, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30).read().decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not exposed")


def test_thousand_connections_get_one_broadcast(start_rr: Start) -> None:
    mport, sport = free_port(), free_port()
    c = start_rr(ws=True, top=f"metrics:\n  address: 127.0.0.1:{mport}\n"
                 f"status:\n  address: 127.0.0.1:{sport}\n")

    async def run() -> None:
        ready: asyncio.Queue[int] = asyncio.Queue()
        got: asyncio.Queue[Any] = asyncio.Queue()
        done = asyncio.Event()
        conn = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=conn) as s:
            tasks = [asyncio.create_task(subscriber(s, c.ws_url, "all", ready, got, done))
                     for _ in range(N)]
            for _ in range(N):
                await asyncio.wait_for(ready.get(), 120)
            assert await asyncio.to_thread(metric, mport, "rr_centrifuge_connections") == N
            assert await asyncio.to_thread(metric, mport, "rr_centrifuge_subscriptions") == N
            status = await asyncio.to_thread(urllib.request.urlopen,
                                             f"http://127.0.0.1:{sport}/ready?plugin=centrifuge")
            assert status.status == 200
            pub = RawWS(c.ws_port)
            pub.send('{"id":1,"connect":{}}')
            pub.text()
            pub.send('{"id":2,"rpc":{"method":"broadcast","data":{"channels":["all"],'
                     '"message":{"hello":"everyone"}}}}')
            await asyncio.to_thread(pub.text)
            done.set()
            for _ in range(N):
                assert await asyncio.wait_for(got.get(), 120) == {"hello": "everyone"}
            pub.close()
            await asyncio.gather(*tasks, return_exceptions=True)
    asyncio.run(run())
    assert "rr_centrifugo_total_workers 2.0" in urllib.request.urlopen(
        f"http://127.0.0.1:{mport}/metrics", timeout=30).read().decode()


def test_ping_and_pong_timeout(start_rr: Start) -> None:
    c = start_rr(ws=True, ws_extra="    ping_interval: 1s\n    pong_timeout: 1s\n")
    ws = RawWS(c.ws_port)
    ws.send('{"id":1,"connect":{}}')
    assert json.loads(ws.text())["connect"]["ping"] == 1
    assert ws.text() == "{}"  # server ping
    ws.send("{}")  # pong
    assert ws.text() == "{}"
    # no pong this time: closed with 3012 once pong_timeout has passed
    assert ws.close_code() == (3012, "no pong")


def test_two_instances_share_publications_through_redis(start_rr: Start) -> None:
    redis = "    redis: redis://127.0.0.1:6379/0\n"
    a = start_rr(ws=True, ws_extra=redis, sub="a")
    b = start_rr(ws=True, ws_extra=redis, sub="b")
    on_b = RawWS(b.ws_port)
    on_b.send('{"id":1,"connect":{}}\n{"id":2,"subscribe":{"channel":"x-rr"}}')
    lines: list[str] = []
    while len(lines) < 2:
        lines += on_b.text().split("\n")
    on_a = RawWS(a.ws_port)
    on_a.send('{"id":1,"connect":{"data":{"user":"pa"}}}')
    on_a.text()
    on_a.send('{"id":2,"publish":{"channel":"x-rr","data":{"via":"redis"}}}')
    push = json.loads(on_b.text())
    assert push["push"]["channel"] == "x-rr"
    assert push["push"]["pub"]["data"] == {"via": "redis"}
    assert push["push"]["pub"]["info"]["user"] == "pa"
    on_a.close()
    on_b.close()
