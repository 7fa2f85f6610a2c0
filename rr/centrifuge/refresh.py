"""Expiry and refresh of one connection and its subscriptions (spec §B.9), the part
of ``rr.centrifuge.ws.Connection`` that acts on ``expire_at``: PHP's ``refresh`` /
``subrefresh`` at a proxy-driven expiry, the client's ``refresh`` / ``sub_refresh``
commands, and the closes / unsubscribe pushes when time is up (rr.centrifuge.expiry
holds the timers and the two kinds of expiry)."""

from __future__ import annotations

import logging
import time
from typing import Any

from rr.centrifuge import codes
from rr.centrifuge.codec import Codec
from rr.centrifuge.codes import Closed, require_channel
from rr.centrifuge.config import WebSocketConfig
from rr.centrifuge.expiry import RETRY, Timers, cap, ttl
from rr.centrifuge.hub import Hub
from rr.centrifuge.proto import proxy_pb2
from rr.centrifuge.tokens import ConnectGrant, SubGrant, Verifier

pb: Any = proxy_pb2


class Refreshing:
    """Mixed into Connection; the attributes and methods below are Connection's."""

    cfg: WebSocketConfig
    codec: Codec
    hub: Hub
    log: logging.Logger
    verifier: Verifier
    client_id: str
    user: str
    meta: bytes
    conn_info: Any
    subs: set[str]
    server_subs: set[str]
    token_auth: bool
    expire_at: int
    _token_subs: set[str]
    _timers: Timers

    def _common(self, req: Any) -> Any:
        raise NotImplementedError

    async def _php(self, kind: str, req: Any, response: Any) -> Any:
        raise NotImplementedError

    def _verify(self, check: Any) -> Any:
        raise NotImplementedError

    def _leave(self, channel: str) -> None:
        raise NotImplementedError

    def push(self, channel: str, kind: str, body: dict[str, Any]) -> None:
        raise NotImplementedError

    def disconnect(self, code: int, reason: str) -> None:
        raise NotImplementedError

    # -- expiry and refresh (spec §B.9; rr.centrifuge.expiry) --------------------------
    def _timer_failed(self, e: BaseException) -> None:
        if isinstance(e, Closed):
            self.disconnect(e.code, e.reason)
        else:
            self.log.error("centrifuge expiry failed", extra={"fields": {"error": str(e)}})

    def _conn_expires(self, expire_at: int) -> None:
        self.expire_at = cap(expire_at)
        if not self.expire_at:
            self._timers.cancel("conn")
        elif self.token_auth:
            self._timers.at("conn", self.expire_at + self.cfg.expired_close_delay,
                            self._conn_expired)
        else:
            self._timers.at("conn", self.expire_at, self._php_refresh)

    async def _conn_expired(self) -> None:
        raise Closed(*codes.CONNECTION_EXPIRED)

    async def _php_refresh(self, asked: bool = False) -> None:
        """PHP's refresh; ``asked``: the client's command, which gets PHP's error."""
        req = self._common(pb.RefreshRequest())
        req.user, req.meta = self.user, self.meta
        try:
            res = await self._php("refresh", req, pb.RefreshResponse)
        except codes.ReplyError:
            if asked:  # the client's own refresh: the timer (if any) stays as it was
                raise
            # PHP failed to answer at the expiry: ask again a little later
            self._timers.at("conn", time.time() + RETRY, self._php_refresh)
            return
        if res.expired or 0 < res.expire_at <= time.time():
            raise Closed(*codes.CONNECTION_EXPIRED)
        if res.info:
            self._set_conn_info(self.codec.payload(res.info))
        self._conn_expires(res.expire_at)

    def _set_conn_info(self, info: Any) -> None:
        self.conn_info = info
        for ch in self.subs:
            m = self.hub.channels.get(ch, {}).get(self.client_id)
            if m is not None:
                m.conn_info = info

    def _sub_expires(self, channel: str, expire_at: int, by_token: bool) -> None:
        key = "sub:" + channel
        expire_at = cap(expire_at)
        if by_token:
            self._token_subs.add(channel)
        if not expire_at:
            self._timers.cancel(key)
        elif by_token:
            self._timers.at(key, expire_at + self.cfg.expired_close_delay,
                            lambda: self._sub_expired(channel))
        else:
            self._timers.at(key, expire_at, lambda: self._php_sub_refresh(channel))

    async def _sub_expired(self, channel: str) -> None:
        """A server-side subscription expiring ends the connection (3006); a client-side
        one gets an unsubscribe push with 2501, on which the clients resubscribe."""
        if channel not in self.subs:
            return
        if channel in self.server_subs:
            raise Closed(*codes.SUBSCRIPTION_EXPIRED)
        self._leave(channel)
        code, reason = codes.UNSUBSCRIBE_EXPIRED
        self.push(channel, "unsubscribe", {"code": code, "reason": reason})

    async def _php_sub_refresh(self, channel: str, asked: bool = False) -> None:
        if channel not in self.subs:
            return
        req = self._common(pb.SubRefreshRequest())
        req.user, req.channel, req.meta = self.user, channel, self.meta
        try:
            res = await self._php("subrefresh", req, pb.SubRefreshResponse)
        except codes.ReplyError:
            if asked:
                raise
            self._timers.at("sub:" + channel, time.time() + RETRY,
                            lambda: self._php_sub_refresh(channel))
            return
        if res.expired or 0 < res.expire_at <= time.time():
            await self._sub_expired(channel)
            return
        if res.info:
            m = self.hub.channels.get(channel, {}).get(self.client_id)
            if m is not None:
                m.chan_info = self.codec.payload(res.info)
        self._sub_expires(channel, res.expire_at, by_token=False)

    async def _refresh(self, body: dict[str, Any]) -> dict[str, Any]:
        """With a token: the client's own refresh (new ``exp``). Without one, on a
        connection PHP authorized: PHP's refresh handler, as at a proxy-driven expiry."""
        token = str(body.get("token") or "")
        out: dict[str, Any] = {"client": self.client_id, "version": "rr"}
        if not token:
            if self.token_auth:
                raise codes.ReplyError(*codes.BAD_REQUEST_ERR)
            await self._php_refresh(asked=True)
            return out
        if not self.verifier.enabled:
            raise Closed(*codes.INVALID_TOKEN)
        grant: ConnectGrant = self._verify(lambda: self.verifier.connect(token))
        if grant.user != self.user:
            raise Closed(*codes.INVALID_TOKEN)
        if grant.info is not None:
            self._set_conn_info(grant.info)
        self.token_auth = True
        self._conn_expires(grant.expire_at)
        if self.expire_at:
            out.update(expires=True, ttl=ttl(self.expire_at))
        return out

    async def _sub_refresh(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = require_channel(body)
        if channel not in self.subs:
            raise codes.ReplyError(*codes.BAD_REQUEST_ERR)
        token = str(body.get("token") or "")
        if not token:
            if channel in self._token_subs:
                raise codes.ReplyError(*codes.BAD_REQUEST_ERR)
            await self._php_sub_refresh(channel, asked=True)
            return {}
        if not self.verifier.enabled:
            raise Closed(*codes.INVALID_TOKEN)
        grant: SubGrant = self._verify(
            lambda: self.verifier.subscribe(token, self.user, channel))
        if grant.info is not None:
            m = self.hub.channels.get(channel, {}).get(self.client_id)
            if m is not None:
                m.chan_info = grant.info
        self._sub_expires(channel, grant.expire_at, by_token=True)
        return {"expires": True, "ttl": ttl(grant.expire_at)} if grant.expire_at else {}
