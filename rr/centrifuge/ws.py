"""One client connection of the built-in endpoint: Centrifugo client protocol v2 in JSON
or protobuf framing (spec §B.2–B.8, rr.centrifuge.codec); every event PHP must see goes
through the proxy requests of §B.9, so the same PHP handlers serve rr's endpoint and a
real Centrifugo.

Writes go through a bounded queue drained by one task: a client that reads slower than
it is sent to is disconnected with 3008 instead of growing rr's memory.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from rr.centrifuge import codes
from rr.centrifuge.codec import JSON, BadFrame, Codec
from rr.centrifuge.codes import Closed, require_channel
from rr.centrifuge.config import WebSocketConfig
from rr.centrifuge.expiry import Timers, ttl
from rr.centrifuge.hub import Hub, Member
from rr.centrifuge.proto import proxy_pb2
from rr.centrifuge.proxy import call_worker
from rr.centrifuge.refresh import Refreshing
from rr.centrifuge.tokens import ConnectGrant, InvalidToken, SubGrant, TokenExpired, Verifier
from rr.pool.pool import Pool

pb: Any = proxy_pb2
MAX_CHANNELS = 128
_ENDS = frozenset({WSMsgType.ERROR, WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED})


class Connection(Refreshing):
    def __init__(self, ws: web.WebSocketResponse, hub: Hub, pool: Pool, cfg: WebSocketConfig,
                 log: logging.Logger, codec: Codec = JSON,
                 verifier: Verifier | None = None) -> None:
        self.ws = ws
        self.codec = codec
        self.verifier = verifier or Verifier(cfg)
        self.hub = hub
        self.pool = pool
        self.cfg = cfg
        self.log = log
        self.client_id = str(uuid.uuid4())
        self.user = ""
        self.meta = b""
        self.conn_info: Any = None
        self.authed = False
        self.subs: set[str] = set()
        self.server_subs: set[str] = set()  # from connect: expiry closes 3006
        self.token_auth = False  # connection expiry is token-driven
        self.expire_at = 0
        self._token_subs: set[str] = set()  # channels whose expiry is token-driven
        self._timers = Timers(self._timer_failed)
        self._after: list[Callable[[], None]] = []  # run once the reply is queued
        self._queue: list[bytes] = []
        self._queued = 0
        self._wake = asyncio.Event()
        self._close: tuple[int, str] | None = None
        self._ping_out = False

    # -- writing -------------------------------------------------------------------------
    def send(self, msg: dict[str, Any]) -> None:
        if self._close is None:
            self.send_raw(self.codec.encode(msg))

    def send_raw(self, data: bytes) -> None:
        """Queue one message encoded by ``self.codec``; past ``send_queue_size`` bytes:
        3008 slow."""
        if self._close is not None:
            return
        self._queued += len(data)
        if self._queued > self.cfg.send_queue_size:
            self.disconnect(*codes.SLOW)
            return
        self._queue.append(data)
        self._wake.set()

    def push(self, channel: str, kind: str, body: dict[str, Any]) -> None:
        self.send({"push": {"channel": channel, kind: body}})

    def server_unsubscribe(self, channel: str, code: int, reason: str) -> None:
        self.subs.discard(channel)
        self.push(channel, "unsubscribe", {"code": code, "reason": reason})

    def disconnect(self, code: int, reason: str) -> None:
        if self._close is None:
            self._close = (code, reason)
            self._wake.set()

    async def _writer(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._queue:
                batch, self._queue = self._queue, []
                self._queued = 0
                frame = self.codec.join(batch)
                sent = self.ws.send_bytes(frame) if isinstance(frame, bytes) \
                    else self.ws.send_str(frame)
                try:
                    await asyncio.wait_for(sent, timeout=max(1.0, self.cfg.ping_interval))
                except (TimeoutError, ConnectionError, RuntimeError):
                    self.disconnect(*codes.WRITE_ERROR)
            if self._close is not None:
                code, reason = self._close
                await self.ws.close(code=code, message=reason.encode())
                return

    async def _pinger(self) -> None:
        """App-level pings (spec §B.5): the first at a random point of the interval, then
        every interval; a pong must come within ``pong_timeout`` or the client is gone."""
        interval = self.cfg.ping_interval
        wait = min(self.cfg.pong_timeout, interval)
        await asyncio.sleep(interval * random.uniform(0.5, 1.0))
        while True:
            self._ping_out = True
            self.send({})
            await asyncio.sleep(wait)
            if self._ping_out:
                self.disconnect(*codes.NO_PONG)
                return
            await asyncio.sleep(interval - wait)

    # -- reading -------------------------------------------------------------------------
    async def serve(self) -> None:
        writer = asyncio.create_task(self._writer())
        pinger: asyncio.Task[None] | None = None
        try:
            try:
                await asyncio.wait_for(self._first(), self.cfg.connect_timeout)
            except TimeoutError:
                raise Closed(*codes.STALE) from None
            if self.authed:
                pinger = asyncio.create_task(self._pinger())
                await self._loop()
        except Closed as c:
            self.disconnect(c.code, c.reason)
        finally:
            if pinger is not None:
                pinger.cancel()
            self._timers.cancel_all()
            self.hub.remove(self)
            self.disconnect(*codes.CONNECTION_CLOSED)
            try:
                await asyncio.wait_for(writer, 5.0)
            except (TimeoutError, ConnectionError, RuntimeError):
                writer.cancel()

    async def _first(self) -> None:
        """Frames until the connect has been answered (or the connection is lost)."""
        while not self.authed and self._close is None:
            msg = await self.ws.receive()
            if not await self._frame(msg):
                return

    async def _loop(self) -> None:
        while self._close is None:
            msg = await self.ws.receive()
            if not await self._frame(msg):
                return

    async def _frame(self, msg: Any) -> bool:
        if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
            # ping/pong frames are answered by aiohttp; anything else ends the read
            return msg.type not in _ENDS
        try:
            commands = self.codec.decode(msg.data)
        except BadFrame:
            raise Closed(*codes.BAD_REQUEST) from None
        for cmd in commands:
            await self._command(cmd)
        return True

    async def _command(self, cmd: dict[str, Any]) -> None:
        cid = cmd.get("id", 0)
        if not isinstance(cid, int) or cid < 0:
            raise Closed(*codes.BAD_REQUEST)
        if cid == 0 and "send" not in cmd:
            if not self._ping_out:
                raise Closed(*codes.BAD_REQUEST)
            self._ping_out = False
            return
        for name in ("connect", "subscribe", "unsubscribe", "publish", "presence",
                     "presence_stats", "history", "rpc", "send", "refresh", "sub_refresh"):
            if name in cmd:
                break
        else:
            raise Closed(*codes.BAD_REQUEST)
        body = cmd[name]
        if not isinstance(body, dict):
            raise Closed(*codes.BAD_REQUEST)
        if name == "connect":
            if self.authed:
                raise Closed(*codes.BAD_REQUEST)
            await self._connect(cid, body)
            return
        if not self.authed:
            raise Closed(*codes.BAD_REQUEST)
        if name == "send":
            raise Closed(*codes.NOT_AVAILABLE)
        handler = getattr(self, "_" + name)
        try:
            result = await handler(body)
        except codes.ReplyError as e:
            self.send({"id": cid, "error": e.json()})
            return
        self.send({"id": cid, name: result})
        self._flush_after()

    def _flush_after(self) -> None:
        after, self._after = self._after, []
        for job in after:
            job()

    # -- proxy to PHP --------------------------------------------------------------------
    def _common(self, req: Any) -> Any:
        req.client = self.client_id
        req.transport = "websocket"
        req.protocol = self.codec.name
        req.encoding = "json"
        return req

    async def _php(self, kind: str, req: Any, response: Any) -> Any:
        """One proxy request; the result, or a ReplyError / Closed from PHP's answer."""
        try:
            raw = await call_worker(self.pool, kind, req.SerializeToString())
            out = response()
            out.ParseFromString(raw)
        except Exception as e:  # noqa: BLE001 - Centrifugo maps proxy failures to 100
            self.log.error("centrifuge proxy request failed",
                           extra={"fields": {"type": kind, "error": str(e)}})
            raise codes.ReplyError(*codes.INTERNAL, temporary=True) from None
        if out.HasField("disconnect"):
            raise Closed(out.disconnect.code, out.disconnect.reason)
        if out.HasField("error"):
            raise codes.ReplyError(out.error.code, out.error.message, out.error.temporary)
        return out.result

    async def _connect(self, cid: int, body: dict[str, Any]) -> None:
        """A token is the proof when keys are configured (PHP is not asked, as with
        Centrifugo); without a token PHP's connect handler decides."""
        raw_subs = body.get("subs")
        subs: dict[str, Any] = raw_subs if isinstance(raw_subs, dict) else {}
        if body.get("token") and not self.verifier.enabled:
            # no key is configured: a token is never accepted as proof
            self.send({"id": cid, "error": {"code": 101, "message": "unauthorized"}})
            raise Closed(*codes.INVALID_TOKEN)
        try:
            if body.get("token"):
                grant = self._verify(lambda: self.verifier.connect(str(body["token"])))
                data, self.token_auth = None, True
            else:
                grant, data = await self._php_connect(body, subs)
        except codes.ReplyError as e:
            self.send({"id": cid, "error": e.json()})
            await self._drain_after_error()
            return
        self.user, self.meta, self.conn_info = grant.user, grant.meta, grant.info
        self.authed = True
        self.hub.add(self)
        reply: dict[str, Any] = {"client": self.client_id, "version": "rr",
                                 "ping": int(self.cfg.ping_interval), "pong": True}
        if data is not None:
            reply["data"] = data
        server_subs: dict[str, Any] = {}
        for ch in grant.channels + [c for c in grant.subs if c not in grant.channels]:
            opts = grant.subs.get(ch) or SubGrant()
            server_subs[ch] = self._join(ch, opts, subs.get(ch))
            self.server_subs.add(ch)
            if opts.data is not None:
                server_subs[ch]["data"] = opts.data
            if not self.token_auth:
                self._sub_expires(ch, opts.expire_at, by_token=False)
        if server_subs:
            reply["subs"] = server_subs
        self._conn_expires(grant.expire_at)
        if self.token_auth and self.expire_at:
            reply.update(expires=True, ttl=ttl(self.expire_at))
        self.send({"id": cid, "connect": reply})
        self._flush_after()

    def _verify(self, check: Any) -> Any:
        """A token check: expired → error 109 (the client fetches a new token), anything
        else wrong → close 3500 invalid token."""
        try:
            grant = check()
        except TokenExpired:
            raise codes.ReplyError(*codes.TOKEN_EXPIRED) from None
        except InvalidToken as e:
            self.log.info("centrifuge token refused", extra={"fields": {"error": str(e)}})
            raise Closed(*codes.INVALID_TOKEN) from None
        if grant.expire_at and grant.expire_at <= time.time():
            raise codes.ReplyError(*codes.TOKEN_EXPIRED)
        return grant

    async def _php_connect(self, body: dict[str, Any],
                           subs: dict[str, Any]) -> tuple[ConnectGrant, Any]:
        req = self._common(pb.ConnectRequest())
        req.data = self.codec.raw(body.get("data"))
        req.name = str(body.get("name", ""))
        req.version = str(body.get("version", ""))
        req.channels.extend(str(k) for k in subs)
        res = await self._php("connect", req, pb.ConnectResponse)
        grant = ConnectGrant(
            user=res.user, info=self.codec.payload(res.info), meta=bytes(res.meta),
            expire_at=res.expire_at, channels=list(res.channels),
            subs={ch: SubGrant(info=self.codec.payload(o.info),
                               data=self.codec.payload(o.data), expire_at=o.expire_at)
                  for ch, o in res.subs.items()})
        return grant, self.codec.payload(res.data)

    async def _drain_after_error(self) -> None:
        """After a refused connect the connection is unusable: anything more is 3501."""
        while True:
            msg = await self.ws.receive()
            if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                return
            raise Closed(*codes.BAD_REQUEST)

    def _join(self, channel: str, grant: SubGrant, request: Any) -> dict[str, Any]:
        """Subscribe in the hub; the SubscribeResult with stream position and recovery.
        The join push goes out after the reply (``_after``): a client learns of its own
        subscription before it sees pushes for it."""
        self.subs.add(channel)
        asked = isinstance(request, dict) and bool(request.get("join_leave"))
        emits = self.cfg.join_leave if grant.join_leave is None else grant.join_leave
        m = Member(self, self.conn_info, grant.info, emits=emits,
                   join_leave=(asked and emits) or grant.force_push_join_leave)
        self.hub.subscribe(channel, m)
        self._after.append(lambda: self.hub.announce(channel, "join", m))
        recover = request
        out: dict[str, Any] = {}
        if not self.hub.history_size:
            return out
        offset, epoch = self.hub.position(channel)
        out.update(recoverable=True, epoch=epoch, offset=offset)
        if isinstance(recover, dict) and recover.get("recover"):
            got = self.hub.history(channel, since=(int(recover.get("offset", 0)),
                                                   str(recover.get("epoch", ""))))
            out["was_recovering"] = True
            if got is not None:
                out["recovered"] = True
                if got[0]:
                    out["publications"] = got[0]
        return out

    async def _subscribe(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = require_channel(body)
        if len(channel) > 255:
            raise codes.ReplyError(*codes.BAD_REQUEST_ERR)
        if channel in self.subs:
            raise codes.ReplyError(*codes.ALREADY_SUBSCRIBED)
        if len(self.subs) >= MAX_CHANNELS:
            raise codes.ReplyError(*codes.LIMIT_EXCEEDED)
        token = str(body.get("token") or "")
        if token and self.verifier.enabled:
            grant: SubGrant = self._verify(
                lambda: self.verifier.subscribe(token, self.user, channel))
        else:  # PHP decides (and sees the token when no key is configured)
            req = self._common(pb.SubscribeRequest())
            req.user, req.channel, req.meta, req.token = self.user, channel, self.meta, token
            req.data = self.codec.raw(body.get("data"))
            res = await self._php("subscribe", req, pb.SubscribeResponse)
            grant = SubGrant(info=self.codec.payload(res.info),
                             data=self.codec.payload(res.data), expire_at=res.expire_at)
            if res.HasField("override"):
                o = res.override
                if o.HasField("join_leave"):
                    grant.join_leave = o.join_leave.value
                grant.force_push_join_leave = o.force_push_join_leave.value
        out = self._join(channel, grant, body)
        if grant.data is not None:
            out["data"] = grant.data
        by_token = bool(token and self.verifier.enabled)
        self._sub_expires(channel, grant.expire_at, by_token)
        if by_token and grant.expire_at:
            out.update(expires=True, ttl=ttl(grant.expire_at))
        return out

    async def _unsubscribe(self, body: dict[str, Any]) -> dict[str, Any]:
        self._leave(require_channel(body))
        return {}

    def _leave(self, channel: str) -> None:
        self.subs.discard(channel)
        self.server_subs.discard(channel)
        self._token_subs.discard(channel)
        self._timers.cancel("sub:" + channel)
        self.hub.unsubscribe(channel, self)

    async def _publish(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = require_channel(body)
        if "data" not in body:
            raise Closed(*codes.BAD_REQUEST)
        req = self._common(pb.PublishRequest())
        req.user, req.channel, req.meta = self.user, channel, self.meta
        req.data = self.codec.raw(body["data"])
        res = await self._php("publish", req, pb.PublishResponse)
        data = self.codec.payload(res.data) if res.data else body["data"]
        info = {"client": self.client_id, "user": self.user}
        if self.conn_info is not None:
            info["conn_info"] = self.conn_info
        await self.hub.publish(channel, data, info, res.skip_history)
        return {}

    async def _rpc(self, body: dict[str, Any]) -> dict[str, Any]:
        req = self._common(pb.RPCRequest())
        req.user, req.meta = self.user, self.meta
        req.method = str(body.get("method", ""))
        req.data = self.codec.raw(body.get("data"))
        res = await self._php("rpc", req, pb.RPCResponse)
        data = self.codec.payload(res.data)
        return {} if data is None else {"data": data}

    async def _presence(self, body: dict[str, Any]) -> dict[str, Any]:
        if not self.cfg.presence:
            raise codes.ReplyError(*codes.NOT_AVAILABLE_ERR)
        return {"presence": self.hub.presence(require_channel(body))}

    async def _presence_stats(self, body: dict[str, Any]) -> dict[str, Any]:
        if not self.cfg.presence:
            raise codes.ReplyError(*codes.NOT_AVAILABLE_ERR)
        clients, users = self.hub.presence_stats(require_channel(body))
        return {"num_clients": clients, "num_users": users}

    async def _history(self, body: dict[str, Any]) -> dict[str, Any]:
        if not self.hub.history_size:
            raise codes.ReplyError(*codes.NOT_AVAILABLE_ERR)
        since = body.get("since")
        pos = (int(since.get("offset", 0)), str(since.get("epoch", ""))) \
            if isinstance(since, dict) else None
        limit = body.get("limit", 0)
        got = self.hub.history(require_channel(body), int(limit) if limit else 0,
                               pos, bool(body.get("reverse")))
        if got is None:
            raise codes.ReplyError(*codes.UNRECOVERABLE)
        pubs, offset, epoch = got
        out: dict[str, Any] = {"epoch": epoch, "offset": offset}
        if pubs:
            out["publications"] = pubs
        return out

