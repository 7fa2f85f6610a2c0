"""Bad input, limits and shutdown of the built-in endpoint: the protocol's codes, and
the server stays up for everybody else."""

from __future__ import annotations

import asyncio
import json
import signal
from typing import Any

import aiohttp
import pytest

from tests.centrifuge.conftest import CentrifugeRR, Start
from tests.centrifuge.rawws import RawWS

CONNECT = '{"id":1,"connect":{"data":{"user":"x"}}}'


@pytest.fixture
def ws_rr(start_rr: Start) -> CentrifugeRR:
    return start_rr(ws=True, ws_extra="    max_message_size: 4096\n"
                    "    send_queue_size: 65536\n    allowed_origins: ['http://good.example']\n")


def connected(c: CentrifugeRR, **kw: Any) -> RawWS:
    ws = RawWS(c.ws_port, **kw)
    assert ws.status == 101
    ws.send(CONNECT)
    assert json.loads(ws.text())["connect"]["client"]
    return ws


def still_serving(c: CentrifugeRR) -> None:
    ws = connected(c)
    ws.send('{"id":2,"rpc":{"method":"mode"}}')
    assert json.loads(ws.text())["rpc"]["data"] == {"mode": "centrifuge"}
    ws.close()


@pytest.mark.parametrize("frames, code", [
    (["not json"], 3501),
    (['{"id":1,"subscribe":{"channel":"a"}}'], 3501),  # first command is not connect
    ([CONNECT, '{"id":2}'], 3501),  # no request field
    ([CONNECT, '{"id":2,"ping":{}}'], 3501),  # legacy ping
    ([CONNECT, '{"id":2,"subscribe":{"channel":""}}'], 3501),
    ([CONNECT, CONNECT], 3501),  # second connect
    ([CONNECT, '{}'], 3501),  # a pong with no ping outstanding
    ([CONNECT, '{"send":{"data":{}}}'], 3508),  # no message handler
    (["[1,2]"], 3501),
])
def test_bad_input_closes_with_the_protocol_code(ws_rr: CentrifugeRR, frames: list[str],
                                                 code: int) -> None:
    ws = RawWS(ws_rr.ws_port)
    for f in frames:
        ws.send(f)
    assert ws.close_code()[0] == code
    ws.close()
    still_serving(ws_rr)


def test_refused_connect_then_anything_is_bad_request(ws_rr: CentrifugeRR) -> None:
    ws = RawWS(ws_rr.ws_port)
    ws.send('{"id":1,"connect":{"data":{"reject":true}}}')
    assert json.loads(ws.text()) == {"id": 1, "error": {"code": 4001, "message": "go away"}}
    ws.send('{"id":2,"rpc":{"method":"mode"}}')
    assert ws.close_code() == (3501, "bad request")


def test_oversized_frame_is_1009(ws_rr: CentrifugeRR) -> None:
    ws = connected(ws_rr)
    ws.send('{"id":2,"rpc":{"method":"echo","data":"' + "x" * 8000 + '"}}')
    assert ws.close_code()[0] == 1009
    still_serving(ws_rr)


def test_error_replies_keep_the_connection(ws_rr: CentrifugeRR) -> None:
    ws = connected(ws_rr)
    ws.send('{"id":2,"subscribe":{"channel":"' + "c" * 300 + '"}}')
    assert json.loads(ws.text())["error"]["code"] == 107
    ws.send('{"id":3,"subscribe":{"channel":"a"}}\n{"id":4,"subscribe":{"channel":"a"}}')
    replies: list[str] = []
    while len(replies) < 2:  # the server may batch both replies into one frame
        replies += ws.text().split("\n")
    assert json.loads(replies[0])["id"] == 3
    assert json.loads(replies[1])["error"]["code"] == 105
    ws.send('{"id":5,"presence":{"channel":"a"}}')  # presence is off here
    assert json.loads(ws.text())["error"] == {"code": 108, "message": "not available"}
    ws.send('{"id":6,"rpc":{"method":"fail"}}')  # worker error → 100, temporary
    assert json.loads(ws.text())["error"] == {"code": 100, "message": "internal server error",
                                             "temporary": True}
    ws.close()


def test_origin_check(ws_rr: CentrifugeRR) -> None:
    assert RawWS(ws_rr.ws_port, origin="http://evil.example").status == 403
    assert RawWS(ws_rr.ws_port, origin="http://good.example").status == 101
    assert RawWS(ws_rr.ws_port, path="/other").status == 404


def test_slow_reader_is_disconnected_with_3008(ws_rr: CentrifugeRR) -> None:
    slow = RawWS(ws_rr.ws_port, rcvbuf=4096)
    slow.send(CONNECT)
    slow.text()
    slow.send('{"id":2,"subscribe":{"channel":"firehose"}}')
    slow.text()
    pub = connected(ws_rr)
    # 40 MB at a reader that never reads: rr must drop it, not buffer it
    pub.send('{"id":2,"rpc":{"method":"flood","data":{"channel":"firehose","count":2000,'
             '"size":20000}}}')
    assert json.loads(pub.text())["rpc"]["data"] == {"sent": 2000}
    assert slow.close_code() == (3008, "slow")
    pub.close()
    still_serving(ws_rr)


def test_connect_flood_and_garbage_leave_the_server_up(ws_rr: CentrifugeRR) -> None:
    async def flood() -> None:
        async def one(i: int) -> None:
            try:
                async with aiohttp.ClientSession() as s, s.ws_connect(ws_rr.ws_url) as ws:
                    await ws.send_str("garbage" if i % 2 else CONNECT)
                    await asyncio.wait_for(ws.receive(), 60)
            except (TimeoutError, aiohttp.ClientError):
                pass
        await asyncio.gather(*(one(i) for i in range(300)))
    asyncio.run(flood())
    still_serving(ws_rr)


def test_sigterm_sends_reconnect_advice(ws_rr: CentrifugeRR) -> None:
    ws = connected(ws_rr)
    ws_rr.rr.signal(signal.SIGTERM)
    assert ws.close_code() == (3001, "shutdown")
    assert ws_rr.rr.wait(60) == 0


def test_stale_connection_without_connect(start_rr: Start) -> None:
    c = start_rr(ws=True, ws_extra="    connect_timeout: 1s\n")
    ws = RawWS(c.ws_port)
    assert ws.close_code() == (3502, "stale")
