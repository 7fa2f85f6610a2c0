"""Proxy-driven expiry (spec §B.9): PHP's ``expire_at`` makes rr ask PHP's refresh /
subrefresh handler at that moment; ``expired`` closes 3005 (connection), pushes an
unsubscribe 2501 (client-side subscription) or closes 3006 (server-side one). The client
is never told to refresh by itself."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.centrifuge.conftest import CentrifugeRR, Start
from tests.centrifuge.rawws import RawWS


@pytest.fixture
def ws_rr(start_rr: Start) -> CentrifugeRR:
    return start_rr(ws=True, ws_extra="    presence: true\n")


def connect(c: CentrifugeRR, data: dict[str, Any]) -> tuple[RawWS, dict[str, Any]]:
    ws = RawWS(c.ws_port)
    ws.send(json.dumps({"id": 1, "connect": {"data": data}}))
    return ws, json.loads(ws.text())


def info_after_refresh(ws: RawWS, channel: str, key: str) -> Any:
    """Polls presence until PHP's refresh has replaced the info (or the read times out)."""
    n = 10
    while True:
        n += 1
        got = ws.ask({"id": n, "presence": {"channel": channel}})["presence"]["presence"]
        info = next(iter(got.values())).get(key)
        if info != {"name": "renew"} and info != {"ch": channel}:
            return info


def test_php_refresh_extends_and_updates_info(ws_rr: CentrifugeRR) -> None:
    ws, reply = connect(ws_rr, {"user": "renew", "expire_in": 1})
    assert "expires" not in reply["connect"] and "ttl" not in reply["connect"]
    ws.ask({"id": 2, "subscribe": {"channel": "room"}})
    assert info_after_refresh(ws, "room", "conn_info") == {"refreshed": "refresh"}
    # still connected: PHP extended the connection by an hour
    assert ws.ask({"id": 3, "rpc": {"method": "mode"}})["rpc"]["data"] == {
        "mode": "centrifuge"}
    ws.close()


def test_php_refresh_expired_closes_3005(ws_rr: CentrifugeRR) -> None:
    ws, reply = connect(ws_rr, {"user": "doomed", "expire_in": 1})
    assert reply["connect"]["client"]
    assert ws.close_code() == (3005, "connection expired")


def test_client_refresh_without_token_asks_php(ws_rr: CentrifugeRR) -> None:
    ws, _ = connect(ws_rr, {"user": "renew"})
    out = ws.ask({"id": 2, "refresh": {}})
    assert out["refresh"]["client"] and "expires" not in out["refresh"]
    ws.close()
    doomed, _ = connect(ws_rr, {"user": "doomed"})
    doomed.send(json.dumps({"id": 2, "refresh": {}}))
    assert doomed.close_code() == (3005, "connection expired")


def test_php_subrefresh_extends_and_updates_chan_info(ws_rr: CentrifugeRR) -> None:
    ws, _ = connect(ws_rr, {"user": "renew"})
    ws.ask({"id": 2, "subscribe": {"channel": "shortlived"}})
    assert info_after_refresh(ws, "shortlived", "chan_info") == {"refreshed": "subrefresh"}
    ws.close()


def test_php_subrefresh_expired_unsubscribes_2501(ws_rr: CentrifugeRR) -> None:
    ws, _ = connect(ws_rr, {"user": "renew"})
    sub = ws.ask({"id": 2, "subscribe": {"channel": "shortdoomed"}})
    assert "expires" not in sub["subscribe"]
    push = ws.push()
    assert push == {"channel": "shortdoomed",
                    "unsubscribe": {"code": 2501, "reason": "subscription expired"}}
    # the connection lives on; the channel is gone from presence
    assert ws.ask({"id": 3, "presence": {"channel": "shortdoomed"}})["presence"] == {
        "presence": {}}
    ws.close()


def test_server_side_subscription_expired_closes_3006(ws_rr: CentrifugeRR) -> None:
    ws, reply = connect(ws_rr, {"user": "renew", "expiring_subs": ["shortdoomed:s"]})
    assert "shortdoomed:s" in reply["connect"]["subs"]
    assert ws.close_code() == (3006, "subscription expired")
    ws.close()


def test_worker_dying_on_refresh_keeps_the_connection(ws_rr: CentrifugeRR) -> None:
    """A refresh PHP cannot answer is retried later; the client is not punished."""
    ws, _ = connect(ws_rr, {"user": "crasher", "expire_in": 1})
    ws_rr.rr.wait_output('"type":"refresh"', timeout=60)
    assert ws.ask({"id": 2, "rpc": {"method": "mode"}})["rpc"]["data"] == {
        "mode": "centrifuge"}
    ws.close()


def test_client_refresh_gets_the_worker_failure(ws_rr: CentrifugeRR) -> None:
    ws, _ = connect(ws_rr, {"user": "crasher"})
    err = ws.ask({"id": 2, "refresh": {}})["error"]
    assert (err["code"], err.get("temporary")) == (100, True)
    assert ws.ask({"id": 3, "rpc": {"method": "mode"}})["rpc"]["data"] == {
        "mode": "centrifuge"}
    ws.close()
