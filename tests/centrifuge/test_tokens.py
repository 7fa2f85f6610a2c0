"""JWT connection and subscription tokens on the built-in endpoint: with a valid token
PHP's connect / subscribe handler is not asked; a bad token closes 3500, an expired one
is error 109; token-driven expiry tells the client ``expires``/``ttl``, takes its
``refresh`` / ``sub_refresh`` with a new token, and without one closes 3005 / pushes
unsubscribe 2501 ``expired_close_delay`` after the expiry."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from centrifuge import Client, ClientEventHandler
from centrifuge.contexts import ConnectedContext, DisconnectedContext
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.centrifuge.conftest import CentrifugeRR, Start
from tests.centrifuge.rawws import RawWS

SECRET = "s3cret-of-the-test-long-enough-for-hs256"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def token(exp_in: float = 3600, key: Any = SECRET, alg: str = "HS256",
          **claims: Any) -> str:
    body: dict[str, Any] = {"sub": "tok", **claims}
    if exp_in:
        body["exp"] = int(time.time() + exp_in)
    return jwt.encode(body, key, algorithm=alg)


@pytest.fixture
def ws_rr(start_rr: Start, tmp_path: Path) -> CentrifugeRR:
    pem = tmp_path / "rsa.pub.pem"
    pem.write_bytes(RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    ec_pem = tmp_path / "ec.pub.pem"
    ec_pem.write_bytes(EC_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return start_rr(ws=True, ws_extra=(
        f"    presence: true\n    token_hmac_secret_key: {SECRET}\n"
        f"    token_rsa_public_key: {pem}\n    token_ecdsa_public_key: {ec_pem}\n"
        "    expired_close_delay: 1s\n"))


def connect(c: CentrifugeRR, tok: str) -> tuple[RawWS, dict[str, Any]]:
    ws = RawWS(c.ws_port)
    ws.send(json.dumps({"id": 1, "connect": {"token": tok}}))
    return ws, json.loads(ws.text())


def test_token_connect_skips_php(ws_rr: CentrifugeRR) -> None:
    ws, reply = connect(ws_rr, token(info={"t": 1}, channels=["personal:tok"]))
    result = reply["connect"]
    assert result["expires"] is True and 3500 < result["ttl"] <= 3600
    assert "personal:tok" in result["subs"] and "data" not in result
    echo = ws.ask({"id": 2, "rpc": {"method": "echo", "data": {}}})["rpc"]["data"]
    # PHP's connect handler would have set meta {"m": user}: it was never asked
    assert echo["user"] == "tok" and echo["meta"] == []
    presence = ws.ask({"id": 3, "presence": {"channel": "personal:tok"}})["presence"]
    assert [v["conn_info"] for v in presence["presence"].values()] == [{"t": 1}]
    ws.close()


@pytest.mark.parametrize("key, alg", [(RSA_KEY, "RS256"), (RSA_KEY, "PS256"),
                                      (EC_KEY, "ES256")])
def test_public_key_tokens(ws_rr: CentrifugeRR, key: Any, alg: str) -> None:
    _, reply = connect(ws_rr, token(key=key, alg=alg))
    assert reply["connect"]["client"]


@pytest.mark.parametrize("bad", [
    token(key="another secret, also long enough for hs256"),
    token(key=rsa.generate_private_key(public_exponent=65537, key_size=2048), alg="RS256"),
    token(key=ec.generate_private_key(ec.SECP256R1()), alg="ES256"),
    "not.a.jwt",
    jwt.encode({"sub": "tok"}, "", algorithm="none"),
    token(sub=42),
])
def test_invalid_token_closes_3500(ws_rr: CentrifugeRR, bad: str) -> None:
    ws = RawWS(ws_rr.ws_port)
    ws.send(json.dumps({"id": 1, "connect": {"token": bad}}))
    assert ws.close_code() == (3500, "invalid token")


def test_expired_token_is_109(ws_rr: CentrifugeRR) -> None:
    for tok in (token(exp_in=-10), token(expire_at=int(time.time()) - 5)):
        ws, reply = connect(ws_rr, tok)
        assert reply == {"id": 1, "error": {"code": 109, "message": "token expired"}}
        ws.send('{"id":2,"rpc":{"method":"mode"}}')
        assert ws.close_code() == (3501, "bad request")


def test_refresh_with_a_new_token(ws_rr: CentrifugeRR) -> None:
    ws, reply = connect(ws_rr, token(exp_in=2))
    assert reply["connect"]["expires"] is True
    out = ws.ask({"id": 2, "refresh": {"token": token(exp_in=600, info={"v": 2})}})
    assert out["refresh"]["expires"] is True and out["refresh"]["ttl"] > 500
    # an expired or foreign token on refresh
    assert ws.ask({"id": 3, "refresh": {"token": token(exp_in=-1)}})["error"]["code"] == 109
    assert ws.ask({"id": 4, "refresh": {}})["error"]["code"] == 107
    ws.send(json.dumps({"id": 5, "refresh": {"token": token(sub="someone-else")}}))
    assert ws.close_code() == (3500, "invalid token")


def test_no_refresh_closes_3005_after_the_delay(ws_rr: CentrifugeRR) -> None:
    ws, reply = connect(ws_rr, token(exp_in=3))
    assert reply["connect"]["ttl"] >= 1
    assert ws.close_code() == (3005, "connection expired")


def test_subscription_tokens(ws_rr: CentrifugeRR) -> None:
    ws, _ = connect(ws_rr, token())
    sub = ws.ask({"id": 2, "subscribe": {"channel": "vip", "token": token(
        channel="vip", info={"seat": 1})}})["subscribe"]
    # PHP's subscribe handler would have sent data {"welcome": ...}
    assert sub["expires"] is True and "data" not in sub
    presence = ws.ask({"id": 3, "presence": {"channel": "vip"}})["presence"]["presence"]
    assert [v["chan_info"] for v in presence.values()] == [{"seat": 1}]
    expired = ws.ask({"id": 4, "subscribe": {"channel": "old", "token": token(
        exp_in=-5, channel="old")}})
    assert expired["error"]["code"] == 109
    again = ws.ask({"id": 5, "sub_refresh": {"channel": "vip", "token": token(
        exp_in=900, channel="vip")}})["sub_refresh"]
    assert again["expires"] is True and again["ttl"] > 800
    assert ws.ask({"id": 6, "sub_refresh": {"channel": "nope", "token": token(
        channel="nope")}})["error"]["code"] == 107
    # a token for another channel
    ws.send(json.dumps({"id": 7, "subscribe": {"channel": "a", "token": token(channel="b")}}))
    assert ws.close_code() == (3500, "invalid token")


def test_subscription_token_expiry_unsubscribes_2501(ws_rr: CentrifugeRR) -> None:
    ws, _ = connect(ws_rr, token())
    sub = ws.ask({"id": 2, "subscribe": {"channel": "brief", "token": token(
        exp_in=3, channel="brief")}})["subscribe"]
    assert sub["ttl"] >= 1
    assert ws.push() == {"channel": "brief", "unsubscribe": {
        "code": 2501, "reason": "subscription expired"}}
    ws.close()


class Watch(ClientEventHandler):
    def __init__(self) -> None:
        self.connected: asyncio.Queue[ConnectedContext] = asyncio.Queue()
        self.disconnected: asyncio.Queue[DisconnectedContext] = asyncio.Queue()

    async def on_connected(self, ctx: ConnectedContext) -> None:
        await self.connected.put(ctx)

    async def on_disconnected(self, ctx: DisconnectedContext) -> None:
        await self.disconnected.put(ctx)


async def test_python_client_fetches_tokens(ws_rr: CentrifugeRR) -> None:
    """centrifuge-python: an expired token (109) makes it call get_token and connect;
    a short-lived one is refreshed through get_token before rr closes it."""
    issued: list[str] = []

    async def get_token() -> str:
        issued.append(token(exp_in=2))
        return issued[-1]

    watch = Watch()
    cl = Client(ws_rr.ws_url, token=token(exp_in=-5), get_token=get_token, events=watch,
                timeout=30, proxy=None)
    await cl.connect()
    await asyncio.wait_for(watch.connected.get(), 30)
    assert len(issued) == 1
    while len(issued) < 3:  # two refreshes over the short tokens' lifetimes
        await asyncio.sleep(0.2)
    assert watch.disconnected.empty()
    assert (await cl.rpc("echo", {})).data["user"] == "tok"
    await cl.disconnect()


async def test_python_client_invalid_token_is_terminal(ws_rr: CentrifugeRR) -> None:
    watch = Watch()
    cl = Client(ws_rr.ws_url, token=token(key="wrong-but-long-enough-for-the-hs256-key"),
                events=watch, timeout=30, proxy=None)
    await cl.connect()
    ctx = await asyncio.wait_for(watch.disconnected.get(), 30)
    assert ctx.code == 3500
    await cl.disconnect()


def test_aud_and_iss_when_configured(start_rr: Start) -> None:
    c = start_rr(ws=True, ws_extra=(f"    token_hmac_secret_key: {SECRET}\n"
                                    "    token_audience: rr-app\n    token_issuer: auth\n"))
    _, ok = connect(c, token(aud="rr-app", iss="auth"))
    assert ok["connect"]["client"]
    for bad in (token(iss="auth"), token(aud="other", iss="auth"), token(aud="rr-app")):
        ws = RawWS(c.ws_port)
        ws.send(json.dumps({"id": 1, "connect": {"token": bad}}))
        assert ws.close_code() == (3500, "invalid token")


def test_without_keys_a_token_is_refused(start_rr: Start) -> None:
    c = start_rr(ws=True)
    ws, reply = connect(c, token())
    assert reply == {"id": 1, "error": {"code": 101, "message": "unauthorized"}}
    assert ws.close_code() == (3500, "invalid token")
