"""Publications across rr instances over Redis pub/sub, as Centrifugo's Redis engine
carries them: every instance publishes to ``rr.centrifuge.<channel>`` and delivers what
it receives from the pattern subscription to its own hub."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from rr.centrifuge.codec import JSON
from rr.centrifuge.hub import Hub

PREFIX = "rr.centrifuge."


class RedisRelay:
    def __init__(self, url: str, hub: Hub, log: logging.Logger) -> None:
        import redis.asyncio as redis

        self._redis = redis.Redis.from_url(url)
        self.hub = hub
        self.log = log
        self._task: asyncio.Task[None] | None = None
        self.connected = False

    async def start(self) -> None:
        pubsub = self._redis.pubsub()
        await pubsub.psubscribe(PREFIX + "*")
        self.connected = True
        self._task = asyncio.create_task(self._listen(pubsub))
        self.hub.relay = self.publish

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        await self._redis.publish(PREFIX + channel, JSON.encode(message))

    async def _listen(self, pubsub: Any) -> None:
        try:
            async for msg in pubsub.listen():
                if msg.get("type") != "pmessage":
                    continue
                channel = msg["channel"].decode()[len(PREFIX):]
                try:
                    body = json.loads(msg["data"])
                    if "pub" in body:
                        self.hub.deliver(channel, body["pub"], bool(body.get("skip_history")))
                    for kind in ("join", "leave"):
                        if kind in body:
                            self.hub.deliver_presence(channel, kind, body[kind])
                except (ValueError, KeyError, TypeError) as e:
                    self.log.warning("bad relayed publication", extra={"fields": {
                        "channel": channel, "error": str(e)}})
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - /ready turns false; logged once
            self.connected = False
            self.log.error("redis relay lost", extra={"fields": {"error": str(e)}})
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._redis.aclose()
