"""Pull-consumer fetches without nats-py's per-message cost.

``PullSubscription.fetch`` collects a batch by awaiting ``next_msg`` once per message, and
every ``next_msg`` creates two tasks (``create_task`` + ``wait_for``) and a UUID: at a
hundred messages per fetch that was most of the nats driver's CPU. Here one pull request
is published and only the *first* message is awaited; whatever else has arrived by then
is taken from the subscription's queue without waiting, and messages of the request that
arrive later are picked up by the next fetch before it asks for more.

Asking again while an earlier request may still deliver is safe: the consumer's
``max_ack_pending`` (the pipeline's prefetch) caps how many unacked messages the server
hands out, whatever the requests add up to. Uses the subscription's inbox and queue
(nats-py has no public call for a request that does not wait per message).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NATSTimeoutError
from nats.js import api
from nats.js.errors import APIError

#: status replies that end a pull request without (more) messages: no messages,
#: request timeout (expired), conflict (e.g. max ack pending, consumer deleted)
ENDED = (api.StatusCode.NO_MESSAGES, api.StatusCode.REQUEST_TIMEOUT, api.StatusCode.CONFLICT)


def _status(msg: Msg) -> str | None:
    headers = msg.headers
    return headers.get(api.Header.STATUS) if headers else None


class Fetcher:
    """Batches of one pull subscription (``js.pull_subscribe``)."""

    def __init__(self, psub: Any) -> None:
        self._psub = psub
        self._sub = psub._sub              # noqa: SLF001 - see the module docstring
        self._queue: asyncio.Queue[Msg] = self._sub._pending_queue  # noqa: SLF001

    def _take(self) -> Msg:
        msg = self._queue.get_nowait()
        self._sub._pending_size -= len(msg.data)  # noqa: SLF001 - slow-consumer accounting
        return msg

    def ready(self, limit: int) -> list[Msg]:
        """Messages already received, at most ``limit``; status replies are dropped."""
        out: list[Msg] = []
        while len(out) < limit and not self._queue.empty():
            msg = self._take()
            if _status(msg) is None:
                out.append(msg)
        return out

    async def fetch(self, batch: int, timeout: float) -> list[Msg]:
        """Up to ``batch`` messages; raises nats' TimeoutError when none came in
        ``timeout`` seconds (the request's ``expires``)."""
        got = self.ready(batch)
        if got:
            return got
        request = {"batch": batch, "expires": int(timeout * 1e9)}
        await self._psub._nc.publish(self._psub._nms, json.dumps(request).encode(),  # noqa: SLF001
                                     self._psub._deliver)  # noqa: SLF001
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout + 1.0   # the server's 408 normally comes first
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise NATSTimeoutError
            try:
                first = await asyncio.wait_for(self._queue.get(), left)
            except TimeoutError:
                raise NATSTimeoutError from None
            self._sub._pending_size -= len(first.data)  # noqa: SLF001
            status = _status(first)
            if status is None:
                return [first, *self.ready(batch - 1)]
            if status in ENDED:
                if status == api.StatusCode.CONFLICT:
                    await asyncio.sleep(0.05)   # the caller asks again: not in a spin
                raise NATSTimeoutError
            if status != api.StatusCode.CONTROL_MESSAGE:   # not a heartbeat
                raise APIError.from_msg(first)

    def leftovers(self) -> list[Msg]:
        """Everything received and not taken (stop hands these back)."""
        return self.ready(self._queue.qsize())
