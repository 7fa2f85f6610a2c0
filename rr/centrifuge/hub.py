"""The built-in endpoint's state: who is connected, who is subscribed where, and each
channel's history stream (offset + epoch, spec §B.6) for recovery after a reconnect.

One hub per rr instance. Delivery is local; with a broker configured (``Relay``) every
publication goes out through it and comes back to each instance's ``deliver``, so all
instances see it, as Centrifugo's Redis engine does.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from rr.centrifuge.codec import Codec


class Client(Protocol):
    """What the hub needs from a connection (rr.centrifuge.ws.Connection)."""

    client_id: str
    user: str
    codec: Codec

    def push(self, channel: str, kind: str, body: dict[str, Any]) -> None: ...
    def send_raw(self, data: bytes) -> None: ...
    def server_unsubscribe(self, channel: str, code: int, reason: str) -> None: ...
    def disconnect(self, code: int, reason: str) -> None: ...


@dataclass(slots=True)
class Member:
    client: Client
    conn_info: Any = None  # parsed JSON or None
    chan_info: Any = None
    emits: bool = False  # its subscribe / unsubscribe is announced (join / leave pushes)
    join_leave: bool = False  # it receives the channel's join / leave pushes


@dataclass(slots=True)
class Stream:
    """A channel's recent publications; the epoch changes when the history is lost."""

    epoch: str = field(default_factory=lambda: secrets.token_hex(4))
    offset: int = 0
    pubs: deque[tuple[int, float, dict[str, Any]]] = field(default_factory=deque)


def info_json(m: Member) -> dict[str, Any]:
    out: dict[str, Any] = {"client": m.client.client_id}
    if m.client.user:
        out["user"] = m.client.user
    if m.conn_info is not None:
        out["conn_info"] = m.conn_info
    if m.chan_info is not None:
        out["chan_info"] = m.chan_info
    return out


Relay = Callable[[str, dict[str, Any]], Coroutine[Any, Any, None]]


class Hub:
    def __init__(self, history_size: int, history_ttl: float) -> None:
        self.history_size = history_size
        self.history_ttl = history_ttl
        self.clients: dict[str, Client] = {}
        self.channels: dict[str, dict[str, Member]] = {}
        self.streams: dict[str, Stream] = {}
        self.relay: Relay | None = None  # set when a broker carries publications
        self._relaying: set[asyncio.Task[None]] = set()

    # -- membership ----------------------------------------------------------------------
    def add(self, c: Client) -> None:
        self.clients[c.client_id] = c

    def remove(self, c: Client) -> list[str]:
        self.clients.pop(c.client_id, None)
        left = [ch for ch, members in self.channels.items() if c.client_id in members]
        for ch in left:
            self.unsubscribe(ch, c)
        return left

    def subscribe(self, channel: str, m: Member) -> None:
        self.channels.setdefault(channel, {})[m.client.client_id] = m

    def unsubscribe(self, channel: str, c: Client) -> None:
        members = self.channels.get(channel)
        if members is not None:
            m = members.pop(c.client_id, None)
            if not members:
                del self.channels[channel]
            if m is not None:
                self.announce(channel, "leave", m)

    # -- join / leave (spec §B.7: only to subscriptions that asked for them) -------------
    def announce(self, channel: str, kind: str, m: Member) -> None:
        """A ``join`` or ``leave`` push for ``m``; through the broker when there is one,
        so the channel's members on every instance see it."""
        if not m.emits:
            return
        info = info_json(m)
        if self.relay is None:
            self.deliver_presence(channel, kind, info)
            return
        task = asyncio.get_running_loop().create_task(self.relay(channel, {kind: info}))
        self._relaying.add(task)
        task.add_done_callback(self._relaying.discard)

    def deliver_presence(self, channel: str, kind: str, info: dict[str, Any]) -> None:
        members = self.channels.get(channel)
        if members:
            fan_out((m for m in members.values() if m.join_leave),
                    {"push": {"channel": channel, kind: {"info": info}}})

    def subscribers(self) -> int:
        return sum(len(m) for m in self.channels.values())

    # -- publications --------------------------------------------------------------------
    async def publish(self, channel: str, data: Any, info: dict[str, Any] | None = None,
                      skip_history: bool = False) -> tuple[int, str]:
        """Send to every subscriber (through the broker when there is one); returns the
        publication's stream position (0, "" when the channel keeps no history)."""
        pub: dict[str, Any] = {"data": data}
        if info is not None:
            pub["info"] = info
        if self.relay is not None:
            await self.relay(channel, {"pub": pub, "skip_history": skip_history})
            return 0, ""
        return self.deliver(channel, pub, skip_history)

    def deliver(self, channel: str, pub: dict[str, Any], skip_history: bool) -> tuple[int, str]:
        offset, epoch = 0, ""
        if self.history_size and not skip_history:
            s = self._stream(channel)
            s.offset += 1
            offset, epoch = s.offset, s.epoch
            pub = {**pub, "offset": offset}
            s.pubs.append((offset, time.monotonic(), pub))
            while len(s.pubs) > self.history_size:
                s.pubs.popleft()
        members = self.channels.get(channel)
        if members:
            fan_out(members.values(), {"push": {"channel": channel, "pub": pub}})
        return offset, epoch

    def _stream(self, channel: str) -> Stream:
        s = self.streams.get(channel)
        if s is None:
            s = self.streams[channel] = Stream()
        self._expire(s)
        return s

    def _expire(self, s: Stream) -> None:
        cutoff = time.monotonic() - self.history_ttl
        while s.pubs and s.pubs[0][1] < cutoff:
            s.pubs.popleft()

    def position(self, channel: str) -> tuple[int, str]:
        s = self._stream(channel)
        return s.offset, s.epoch

    def history(self, channel: str, limit: int = -1, since: tuple[int, str] | None = None,
                reverse: bool = False) -> tuple[list[dict[str, Any]], int, str] | None:
        """Publications after ``since`` (None: unrecoverable — the epoch changed or the
        stream no longer reaches back that far)."""
        s = self._stream(channel)
        pubs = [p for _, _, p in s.pubs]
        if since is not None:
            offset, epoch = since
            if epoch != s.epoch:
                return None
            oldest = s.pubs[0][0] if s.pubs else s.offset + 1
            if offset + 1 < oldest and offset < s.offset:
                return None
            pubs = [p for p in pubs if p["offset"] > offset]
        if reverse:
            pubs.reverse()
        if limit >= 0:
            pubs = pubs[:limit]
        return pubs, s.offset, s.epoch

    def remove_history(self, channel: str) -> None:
        self.streams.pop(channel, None)

    # -- server API ----------------------------------------------------------------------
    def presence(self, channel: str) -> dict[str, dict[str, Any]]:
        return {cid: info_json(m) for cid, m in self.channels.get(channel, {}).items()}

    def presence_stats(self, channel: str) -> tuple[int, int]:
        members = self.channels.get(channel, {})
        return len(members), len({m.client.user for m in members.values()})

    def disconnect(self, user: str, client: str, whitelist: list[str], code: int,
                   reason: str) -> None:
        for c in list(self.clients.values()):
            if c.user == user and (not client or c.client_id == client) \
                    and c.client_id not in whitelist:
                c.disconnect(code, reason)

    def server_unsubscribe(self, channel: str, user: str, client: str) -> None:
        for m in list(self.channels.get(channel, {}).values()):
            if m.client.user == user and (not client or m.client.client_id == client):
                self.unsubscribe(channel, m.client)
                m.client.server_unsubscribe(channel, 2000, "server unsubscribe")


def fan_out(members: Any, msg: dict[str, Any]) -> None:
    """One message to many members, encoded once per framing (the hot path)."""
    frames: dict[str, bytes] = {}
    for m in list(members):
        codec = m.client.codec
        frame = frames.get(codec.name)
        if frame is None:
            frame = frames[codec.name] = codec.encode(msg)
        m.client.send_raw(frame)

