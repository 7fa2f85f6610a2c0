"""The lock table: per resource one writer or any number of readers, each with its own
expiry, and a FIFO of waiting Lock/LockRead calls (spec/lock.md §3).

Everything runs on the event loop thread, so no mutexes: a grant, a release and an expiry
are each one synchronous step. Waiters are futures woken by the step that frees the
resource (never by polling); TTLs and wait deadlines are ``loop.call_at`` timers at the
exact instant. A resource with no holder and no waiter is dropped from the table, so idle
resources hold no timers and no objects — only their name is remembered, because
ForceRelease answers ``true`` for any resource that was ever locked (RoadRunner never
removes a resource from its table).
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

# A Lock/LockRead with wait = 0 gets this deadline (spec/lock.md §2).
DEFAULT_WAIT_US = 1000


@dataclass(eq=False, slots=True)
class _Waiter:
    owner: str
    exclusive: bool
    ttl_us: int
    future: asyncio.Future[bool]
    deadline: asyncio.TimerHandle | None = None


@dataclass(eq=False, slots=True)
class _Resource:
    writer: str | None = None
    writer_expiry: asyncio.TimerHandle | None = None
    readers: dict[str, asyncio.TimerHandle | None] = field(default_factory=dict)
    # made on the first wait: an empty deque alone is ~760 bytes, most locks never queue
    waiters: deque[_Waiter] | None = None

    @property
    def held(self) -> bool:
        return self.writer is not None or bool(self.readers)

    def can_grant(self, owner: str, exclusive: bool) -> bool:
        if self.writer is not None:
            return False  # also for the same owner: locks are not re-entrant
        if not exclusive:
            return True
        # free, or the sole holder is this owner's read lock (promotion)
        return not self.readers or (len(self.readers) == 1 and owner in self.readers)


def _cancel(timer: asyncio.TimerHandle | None) -> None:
    if timer is not None:
        timer.cancel()


class LockTable:
    def __init__(self) -> None:
        self._active: dict[str, _Resource] = {}
        self._seen: set[str] = set()
        self._closed = False

    # queries ---------------------------------------------------------------------------
    def exists(self, resource: str, owner: str) -> bool:
        """``owner == "*"``: any holder; else a lock entry of this owner."""
        res = self._active.get(resource)
        if res is None:
            return False
        if owner == "*":
            return res.held
        return res.writer == owner or owner in res.readers

    def stats(self) -> tuple[int, int]:
        """(resources with a holder or waiter, waiting calls) — for tests and status."""
        return len(self._active), sum(len(r.waiters or ()) for r in self._active.values())

    # acquiring -------------------------------------------------------------------------
    async def lock(self, resource: str, owner: str, ttl_us: int, wait_us: int,
                   gone: asyncio.Future[None] | None = None) -> bool:
        """``gone``: done when the caller can no longer receive the answer (its connection
        closed); a waiting call then gives up at once."""
        return await self._acquire(resource, owner, ttl_us, wait_us, True, gone)

    async def lock_read(self, resource: str, owner: str, ttl_us: int, wait_us: int,
                        gone: asyncio.Future[None] | None = None) -> bool:
        return await self._acquire(resource, owner, ttl_us, wait_us, False, gone)

    async def _acquire(self, resource: str, owner: str, ttl_us: int, wait_us: int,
                       exclusive: bool, gone: asyncio.Future[None] | None) -> bool:
        if self._closed:
            return False
        self._seen.add(resource)
        res = self._active.get(resource)
        if res is None:
            res = self._active[resource] = _Resource()
        # Queued calls keep their turn: a newcomer never overtakes a waiter, even one it
        # could share the resource with (RoadRunner's per-resource operation slot).
        if not res.waiters and res.can_grant(owner, exclusive):
            self._grant(resource, res, owner, exclusive, ttl_us)
            return True
        if gone is not None and gone.done():
            self._pump(resource, res)  # drops the resource again if it was just made
            return False
        loop = asyncio.get_running_loop()
        waiter = _Waiter(owner, exclusive, ttl_us, loop.create_future())
        waiter.deadline = loop.call_at(loop.time() + (wait_us or DEFAULT_WAIT_US) / 1e6,
                                       self._give_up, resource, res, waiter)
        if res.waiters is None:
            res.waiters = deque()
        res.waiters.append(waiter)

        def caller_gone(_f: asyncio.Future[None]) -> None:
            self._give_up(resource, res, waiter)

        if gone is not None:
            gone.add_done_callback(caller_gone)
        try:
            return await waiter.future
        except asyncio.CancelledError:
            self._abandon(resource, res, waiter)
            raise
        finally:
            if gone is not None:
                gone.remove_done_callback(caller_gone)

    def _abandon(self, resource: str, res: _Resource, waiter: _Waiter) -> None:
        """The caller went away (connection closed, shutdown): its answer can never be
        delivered, so a lock granted in the meantime is handed back at once."""
        fut = waiter.future
        if fut.done() and not fut.cancelled() and fut.result():
            self.release(resource, waiter.owner)
            return
        _cancel(waiter.deadline)
        if res.waiters and waiter in res.waiters:
            res.waiters.remove(waiter)
            self._pump(resource, res)

    def _give_up(self, resource: str, res: _Resource, waiter: _Waiter) -> None:
        """The deadline passed, or the caller went away."""
        if waiter.future.done():
            return
        _cancel(waiter.deadline)
        waiter.future.set_result(False)
        if res.waiters:
            res.waiters.remove(waiter)
        self._pump(resource, res)  # the head left: the next waiter may fit now

    def _grant(self, resource: str, res: _Resource, owner: str, exclusive: bool,
               ttl_us: int) -> None:
        expiry = self._expiry(resource, res, owner, ttl_us)
        if exclusive:
            for timer in res.readers.values():  # promotion drops the sole read lock
                _cancel(timer)
            res.readers.clear()
            res.writer, res.writer_expiry = owner, expiry
        else:
            # RoadRunner counts a second read lock of one owner twice but keeps one entry,
            # so its bookkeeping breaks; here the owner keeps one entry with the new TTL.
            _cancel(res.readers.get(owner))
            res.readers[owner] = expiry

    def _expiry(self, resource: str, res: _Resource, owner: str,
                ttl_us: int) -> asyncio.TimerHandle | None:
        if ttl_us <= 0:
            return None  # RoadRunner arms a one-year timer; no timer at all is the same
        loop = asyncio.get_running_loop()
        return loop.call_at(loop.time() + ttl_us / 1e6, self._expire, resource, res, owner)

    def _expire(self, resource: str, res: _Resource, owner: str) -> None:
        if res.writer == owner:
            res.writer, res.writer_expiry = None, None
        else:
            res.readers.pop(owner, None)
        self._pump(resource, res)

    def _pump(self, resource: str, res: _Resource) -> None:
        """Grant queued calls in arrival order while the head fits, then drop the
        resource from the table if nothing is left on it."""
        waiters = res.waiters
        while waiters and res.can_grant(waiters[0].owner, waiters[0].exclusive):
            waiter = waiters.popleft()
            _cancel(waiter.deadline)
            self._grant(resource, res, waiter.owner, waiter.exclusive, waiter.ttl_us)
            waiter.future.set_result(True)
        if not res.held and not res.waiters and self._active.get(resource) is res:
            del self._active[resource]

    # releasing -------------------------------------------------------------------------
    def release(self, resource: str, owner: str) -> bool:
        """Removal is synchronous: unlike RoadRunner, an Exists right after a successful
        Release never still sees the lock."""
        res = self._active.get(resource)
        if res is None:
            return False
        if res.writer is not None:
            if res.writer != owner:
                return False
            _cancel(res.writer_expiry)
            res.writer, res.writer_expiry = None, None
        elif owner in res.readers:
            _cancel(res.readers.pop(owner))
        else:
            return False
        self._pump(resource, res)
        return True

    def force_release(self, resource: str) -> bool:
        res = self._active.get(resource)
        if res is None:
            return resource in self._seen
        _cancel(res.writer_expiry)
        for timer in res.readers.values():
            _cancel(timer)
        res.writer, res.writer_expiry = None, None
        res.readers.clear()
        self._pump(resource, res)
        return True

    def update_ttl(self, resource: str, owner: str, ttl_us: int) -> bool:
        """The expiry becomes now + ttl (0: none); it replaces, never adds."""
        res = self._active.get(resource)
        if res is None:
            return False
        if res.writer == owner:
            _cancel(res.writer_expiry)
            res.writer_expiry = self._expiry(resource, res, owner, ttl_us)
        elif owner in res.readers:
            _cancel(res.readers[owner])
            res.readers[owner] = self._expiry(resource, res, owner, ttl_us)
        else:
            return False
        return True

    def close(self) -> None:
        """Shutdown: every timer cancelled, every waiter answered false, all locks gone."""
        self._closed = True
        for res in self._active.values():
            _cancel(res.writer_expiry)
            for timer in res.readers.values():
                _cancel(timer)
            for waiter in res.waiters or ():
                _cancel(waiter.deadline)
                if not waiter.future.done():
                    waiter.future.set_result(False)
        self._active.clear()
