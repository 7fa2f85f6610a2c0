"""Connection and subscription expiry (spec §B.4, §B.9): one timer per key (the
connection, or a channel) that runs a job at a Unix time; re-arming a key replaces its
timer, so a refresh simply schedules the next expiry.

Two kinds of expiry, as Centrifugo has them:

* proxy-driven (PHP gave ``expire_at``): at that moment rr asks PHP (``refresh`` /
  ``subrefresh``) itself; the client is told nothing;
* token-driven (a JWT's ``exp``): the client is told ``expires``/``ttl`` and sends a new
  token; without one, the connection is closed ``expired_close_delay`` after the expiry
  (the clients refresh at the expiry, not before it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

MAX_AHEAD = 365 * 24 * 3600  # Centrifugo caps any expiry at one year ahead
RETRY = 10.0  # a refresh request PHP failed to answer is asked again this much later

Job = Callable[[], Awaitable[None]]
OnError = Callable[[BaseException], None]


def cap(expire_at: int) -> int:
    if expire_at <= 0:
        return 0
    return min(int(expire_at), int(time.time()) + MAX_AHEAD)


def ttl(expire_at: int) -> int:
    """Seconds left, for the client's ``ttl`` (at least 1 while it is not past)."""
    return max(1, int(expire_at - time.time()))


class Timers:
    def __init__(self, on_error: OnError) -> None:
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._on_error = on_error

    def at(self, key: str, when: float, job: Job) -> None:
        self.cancel(key)
        self._tasks[key] = asyncio.create_task(self._run(key, when, job))

    async def _run(self, key: str, when: float, job: Job) -> None:
        await asyncio.sleep(max(0.0, when - time.time()))
        if self._tasks.get(key) is asyncio.current_task():
            del self._tasks[key]
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - the owner decides (a close, or a log line)
            self._on_error(e)

    def cancel(self, key: str) -> None:
        task = self._tasks.pop(key, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    def cancel_all(self) -> None:
        for key in list(self._tasks):
            self.cancel(key)
