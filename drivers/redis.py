"""The ``redis`` jobs driver: one Redis Stream per pipeline, consumed through a consumer group.

RoadRunner has no Redis jobs driver; this one is designed to keep the at-least-once rule of
the durable drivers (spec/drivers.md §0) with nothing but Redis >= 6.2:

* push: ``XADD`` of the ``rr_*`` envelope plus a ``payload`` field;
* consume: ``XREADGROUP`` (``COUNT`` = free prefetch slots); an entry stays in the group's
  pending list (PEL) until the worker replied;
* ack: ``XACK`` (+ ``XDEL`` unless ``delete_after_ack: false``);
* nack(requeue) / requeue: one Lua script adds the copy (stream, or the delayed set) and
  acks the original, so a crash between the two can neither lose nor duplicate the job;
* delay: a sorted set ``<stream>:delayed`` scored by the due time (Redis server clock); a
  Lua mover moves due entries to the stream, atomically, so any number of rr instances can
  run movers without double-moving;
* a dead consumer's pending entries are taken over with ``XAUTOCLAIM`` once idle for
  ``visibility_timeout``; entries still being worked on here are "touched" (``XCLAIM ...
  JUSTID`` to ourselves) so a long job is never stolen from a live consumer;
* stop returns unsettled deliveries to the tail of the stream (copy + ack, atomically), so
  they are immediately consumable by anyone instead of waiting for the visibility timeout.

Priority is carried in ``rr_priority`` and orders jobs only inside the core's priority
queue: a stream is FIFO.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import ssl
import uuid
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from rr.config import Section
from rr.drivers.redis_acks import AckBuffer
from rr.errors import ConfigError, RRError, describe
from rr.pipeline.driver import (
    Driver,
    PipelineOptions,
    PipelineState,
    Sink,
    join_tasks,
)
from rr.pipeline.job import Headers, Job, headers_from_json
from rr.pipeline.settle import STOPPED, ConsumeLoops, SettleOnce

log = logging.getLogger("rr.jobs.redis")

DRIVER = "redis"
PAYLOAD_FIELD = b"payload"
DEDUCED = "deduced_by_rr"
#: how long one push keeps retrying while redis is unreachable (jobs.timeout's default)
PUSH_RETRY_FOR = 60.0

#: errors that mean "the broker is unreachable right now" (retry with backoff)
NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)

# -- Lua --------------------------------------------------------------------------------
# A delayed member (and the "fields" argument of REQUEUE) is a flat list of stream
# field/value strings packed as "<len>:<bytes>" items; the first item is a nonce so that two
# identical delayed jobs stay two members of the sorted set.
_LUA_DECODE = """
local function decode(m)
  local out = {}
  local pos = 1
  while pos <= #m do
    local colon = string.find(m, ':', pos, true)
    local n = tonumber(string.sub(m, pos, colon - 1))
    out[#out + 1] = string.sub(m, colon + 1, colon + n)
    pos = colon + n + 1
  end
  table.remove(out, 1)
  return out
end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function xadd(stream, maxlen, fields)
  if maxlen > 0 then
    return redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', unpack(fields))
  end
  return redis.call('XADD', stream, '*', unpack(fields))
end
"""

# KEYS: delayed set, stream. ARGV: batch limit, maxlen. Returns the number moved.
MOVE_DUE = _LUA_DECODE + """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms(), 'LIMIT', 0,
                       tonumber(ARGV[1]))
for _, m in ipairs(due) do
  xadd(KEYS[2], tonumber(ARGV[2]), decode(m))
  redis.call('ZREM', KEYS[1], m)
end
return #due
"""

# KEYS: stream, delayed set. ARGV: group, original entry id ('' = none), delete original
# (0/1), delay ms, maxlen, packed fields. Adds the copy, then acks the original: one atomic
# step, so the job exists exactly once whatever happens around it.
REQUEUE = _LUA_DECODE + """
local delay = tonumber(ARGV[4])
if delay > 0 then
  redis.call('ZADD', KEYS[2], now_ms() + delay, ARGV[6])
else
  xadd(KEYS[1], tonumber(ARGV[5]), decode(ARGV[6]))
end
if ARGV[2] ~= '' then
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
  if ARGV[3] == '1' then redis.call('XDEL', KEYS[1], ARGV[2]) end
end
return 1
"""

# KEYS: delayed set. ARGV: delay ms, packed member.
SCHEDULE = _LUA_DECODE + """
return redis.call('ZADD', KEYS[1], now_ms() + tonumber(ARGV[1]), ARGV[2])
"""


def pack_fields(fields: Sequence[bytes]) -> bytes:
    """Fields -> one binary-safe string the Lua ``decode`` reads back (nonce first)."""
    parts = [uuid.uuid4().hex.encode()] + list(fields)
    return b"".join(str(len(p)).encode() + b":" + p for p in parts)


def unpack_fields(packed: bytes) -> list[bytes]:
    """The Python twin of the Lua ``decode`` (used by tests and tooling)."""
    out: list[bytes] = []
    pos = 0
    while pos < len(packed):
        colon = packed.index(b":", pos)
        n = int(packed[pos:colon])
        out.append(packed[colon + 1:colon + 1 + n])
        pos = colon + 1 + n
    return out[1:]


# -- envelope ----------------------------------------------------------------------------
def encode_job(job: Job, pipeline: str) -> list[bytes]:
    """Job -> flat stream field/value list (the ``rr_*`` envelope of spec/drivers.md §0.2)."""
    return [
        b"rr_id", job.id.encode(),
        b"rr_job", job.name.encode(),
        b"rr_pipeline", (job.pipeline or pipeline).encode(),
        b"rr_headers", json.dumps(job.headers or {}, separators=(",", ":")).encode(),
        b"rr_delay", str(int(job.delay)).encode(),
        b"rr_priority", str(int(job.priority)).encode(),
        b"rr_auto_ack", b"true" if job.auto_ack else b"false",
        PAYLOAD_FIELD, job.payload,
    ]


def _text(v: bytes | str) -> str:
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else v


def _int(v: bytes | str | None, default: int) -> int:
    if v is None:
        return default
    try:
        return int(v)  # int() takes bytes and surrounding whitespace as they are
    except ValueError:
        return default


def _headers(raw: bytes | str | None) -> Headers:
    """``rr_headers`` JSON -> headers; anything unreadable counts as none."""
    if raw is None or raw == b"{}":
        return {}
    try:
        return headers_from_json(json.loads(raw))
    except ValueError:
        return {}


def decode_entry(fields: dict[bytes, bytes], entry_id: str, pipeline: str,
                 pipeline_priority: int) -> Job:
    """Stream entry -> Job. Entries from foreign producers (no ``rr_*`` keys) still run:
    job ``deduced_by_rr``, id = the entry id, every field except ``payload`` becomes a
    one-value header, and the body is ``payload`` (or, without it, all fields as JSON)."""
    job_id, name = fields.get(b"rr_id"), fields.get(b"rr_job")
    if job_id is not None and name is not None:
        # rr's own envelope (every job pushed by rr): read the byte keys as they come,
        # this runs once per consumed job
        origin = fields.get(b"rr_pipeline")
        auto_ack = fields.get(b"rr_auto_ack")
        return Job(
            id=job_id.decode("utf-8", "replace"), name=name.decode("utf-8", "replace"),
            payload=fields.get(PAYLOAD_FIELD, b""),
            headers=_headers(fields.get(b"rr_headers")),
            pipeline=origin.decode("utf-8", "replace") if origin is not None else pipeline,
            priority=_int(fields.get(b"rr_priority"), 0) or pipeline_priority,
            delay=_int(fields.get(b"rr_delay"), 0),
            auto_ack=auto_ack is not None and auto_ack.strip().lower() in (b"true", b"1"))
    return _decode_foreign(fields, entry_id, pipeline, pipeline_priority)


def _decode_foreign(fields: dict[bytes, bytes], entry_id: str, pipeline: str,
                    pipeline_priority: int) -> Job:
    f = {(_text(k)): v for k, v in fields.items()}
    headers = _headers(f.get("rr_headers"))
    if "rr_id" not in f and "rr_job" not in f:
        for k, v in f.items():
            if k != "payload":
                headers[k] = [_text(v)]
    if "payload" in f:
        payload = f["payload"]
    elif "rr_id" in f:
        payload = b""
    else:
        payload = json.dumps({k: _text(v) for k, v in f.items()}).encode()
    priority = _int(f.get("rr_priority"), 0) or pipeline_priority
    return Job(
        id=_text(f["rr_id"]) if "rr_id" in f else entry_id,
        name=_text(f["rr_job"]) if "rr_job" in f else DEDUCED,
        payload=payload,
        headers=headers,
        pipeline=_text(f["rr_pipeline"]) if "rr_pipeline" in f else pipeline,
        priority=priority,
        delay=_int(f.get("rr_delay"), 0),
        auto_ack=_text(f.get("rr_auto_ack", b"false")).strip().lower() in ("true", "1"),
    )


# -- connection ---------------------------------------------------------------------------
def connection_kwargs(section: Section) -> dict[str, Any]:
    """The top-level ``redis:`` section -> redis-py keyword arguments (single node).

    Keys mirror RoadRunner's go-redis options used by the kv plugin, so one ``redis:``
    section can serve both."""
    addrs = section.string_list("addrs", ["127.0.0.1:6379"]) or ["127.0.0.1:6379"]
    if len(addrs) > 1 or section.string("master_name"):
        raise ConfigError(f"{section.path or 'redis'}.addrs: the redis jobs driver needs "
                          f"exactly one node address (cluster and sentinel are not "
                          f"supported), got {addrs!r}")
    addr = addrs[0]
    kwargs: dict[str, Any] = {}
    if "://" in addr:
        from redis.asyncio.connection import parse_url

        kwargs.update(parse_url(addr))
        kwargs.pop("connection_class", None)
        if addr.startswith("rediss://"):
            kwargs["ssl"] = True
    else:
        host, sep, port = addr.rpartition(":")
        try:
            kwargs["host"] = (host or "127.0.0.1") if sep else addr
            kwargs["port"] = int(port) if sep else 6379
        except ValueError:
            raise ConfigError(f"{section.path or 'redis'}.addrs: expected host:port, "
                              f"got {addr!r}") from None
    if section.has("db"):
        kwargs["db"] = section.integer("db", 0)
    if section.string("username"):
        kwargs["username"] = section.string("username")
    if section.string("password"):
        kwargs["password"] = section.string("password")
    kwargs["socket_connect_timeout"] = section.duration("dial_timeout") or 5.0
    kwargs["socket_timeout"] = section.duration("read_timeout") or 3.0
    # go-redis defaults (3 retries, 8 ms .. 512 ms); a longer outage is the loops' business
    max_retries = section.integer("max_retries", 0)
    kwargs["retry"] = Retry(
        ExponentialBackoff(cap=section.duration("max_retry_backoff") or 0.512,
                           base=section.duration("min_retry_backoff") or 0.008),
        3 if max_retries == 0 else max(max_retries, 0))
    if section.has("tls"):
        tls = section.section("tls")
        for key in ("cert", "key", "root_ca"):
            path = tls.string(key)
            if path and not Path(path).is_file():
                raise ConfigError(f"{tls.path}.{key}: no such file {path!r}")
        kwargs["ssl"] = True
        kwargs["ssl_certfile"] = tls.string("cert") or None
        kwargs["ssl_keyfile"] = tls.string("key") or None
        kwargs["ssl_ca_certs"] = tls.string("root_ca") or None
        kwargs["ssl_min_version"] = ssl.TLSVersion.TLSv1_2
    return kwargs


class Backoff:
    """Reconnect pacing that never gives up: 0.1 s doubling to 5 s, reset on success."""

    def __init__(self, first: float = 0.1, cap: float = 5.0) -> None:
        self.first, self.cap = first, cap
        self.attempt = 0

    def next_delay(self) -> float:
        self.attempt += 1
        return float(min(self.cap, self.first * 2 ** (self.attempt - 1)))

    def reset(self) -> None:
        self.attempt = 0


# -- delivery -----------------------------------------------------------------------------
class RedisDelivery(SettleOnce):
    def __init__(self, driver: RedisDriver, entry_id: str, job: Job) -> None:
        self.driver: RedisDriver = driver
        self.entry_id = entry_id
        self.job = job

    def context(self) -> bytes:
        return self.job.context_bytes(DRIVER, queue=self.driver.stream)

    async def ack(self) -> None:
        if self._claim():
            # sent with the next batch (redis_acks): until then the entry stays pending, so
            # a crash in between means a redelivery, not a loss
            self.driver.ack_later(self.entry_id)

    async def nack(self, requeue: bool | None = None, delay: int = 0) -> None:
        if requeue is None:
            # plain Nack (worker error/crash): an auto-acked job is already gone for good
            requeue = self.driver.requeue_on_fail and not self.auto_acked
            delay = 0
        if requeue:
            await self.driver.requeue_copy(self, self.job.headers, delay)
        else:
            await self.ack()  # dropped: removed like an acked job

    async def requeue(self, headers: Headers | None, delay: int) -> None:
        await self.driver.requeue_copy(self, self.job.merged_headers(headers), delay)


# -- driver -------------------------------------------------------------------------------
class RedisDriver(ConsumeLoops, Driver):
    kind = DRIVER

    def __init__(self, options: PipelineOptions, sink: Sink) -> None:
        super().__init__(options, sink)
        o = options
        self.priority = o.integer("priority", options.priority or 10)
        self.stream = o.string("stream", o.name) or o.name
        self.delayed_key = f"{self.stream}:delayed"
        self.group = o.string("group", "roadrunner") or "roadrunner"
        self.consumer = o.string("consumer") or f"{socket.gethostname()}-{os.getpid()}"
        self.prefetch = max(1, o.integer("prefetch", 10))
        self._low_water = max(1, self.prefetch // 2)
        self.block_ms = max(1, int(o.duration("block", 1.0) * 1000))
        self.visibility_ms = max(0, int(o.duration("visibility_timeout", 30.0) * 1000))
        self.max_len = max(0, o.integer("max_len", 0))
        self.delete_after_ack = o.boolean("delete_after_ack", True)
        self.requeue_on_fail = o.boolean("requeue_on_fail", True)
        self.delete_stream_on_stop = o.boolean("delete_stream_on_stop", False)
        kwargs = connection_kwargs(o.global_section)
        self._client = aioredis.Redis(**kwargs)
        # blocking XREADGROUP gets its own client whose read timeout outlives the block
        blocking = dict(kwargs)
        blocking["socket_timeout"] = float(kwargs["socket_timeout"]) + self.block_ms / 1000
        blocking["max_connections"] = 2
        self._reader = aioredis.Redis(**blocking)
        self._move = self._client.register_script(MOVE_DUE)
        self._requeue = self._client.register_script(REQUEUE)
        self._schedule = self._client.register_script(SCHEDULE)
        self._inflight: dict[str, RedisDelivery] = {}
        # the core's non-blocking insert into its shared queue, when it has one
        self._offer = getattr(sink, "offer", None)
        # flush at once when a quarter of the window waits for its ack, like amqp_acks
        self._acks = AckBuffer(self._ack_ids, self.prefetch // 4,
                               on_error=lambda e: self._mark_down("ack", e),
                               on_sent=self._mark_up)
        # set whenever the consume loop may read again (half the window free, or paused)
        self._slots = asyncio.Event()
        self._slots.set()
        self._consuming = False
        self._stopped = False
        self._connected = True
        self._last_error = ""
        self._group_ready = False
        self._tasks: list[asyncio.Task[None]] = []
        self._mover: asyncio.Task[None] | None = None
        self._delay_wakeup = asyncio.Event()
        # set by pause/stop so that loops sleeping in a backoff wake up at once
        self._wake = asyncio.Event()

    # -- helpers --------------------------------------------------------------------------
    def _mark_down(self, what: str, exc: BaseException) -> None:
        self._connected = False
        self._last_error = f"{what}: {exc}"

    def _mark_up(self) -> None:
        if not self._connected:
            log.info("redis pipeline %s: connection restored", self.pipeline)
        self._connected = True
        self._last_error = ""

    async def _ensure_group(self) -> None:
        """Create the stream and the group, reading from the start so that jobs pushed
        before the first consumer existed are not skipped."""
        if self._group_ready:
            return
        try:
            await self._client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise
        self._group_ready = True

    async def _nap(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    # -- producing ------------------------------------------------------------------------
    async def push(self, job: Job) -> None:
        """Publish; while redis is unreachable keep retrying with backoff (the jobs core
        bounds the whole push by ``jobs.timeout``, as RoadRunner does while redialing)."""
        self._check_open()
        fields = encode_job(job, self.pipeline)
        backoff = Backoff()
        deadline = asyncio.get_running_loop().time() + PUSH_RETRY_FOR
        while True:
            try:
                if job.delay > 0:
                    await self._schedule(keys=[self.delayed_key],
                                         args=[int(job.delay) * 1000, pack_fields(fields)])
                    self._delay_wakeup.set()
                    self._ensure_mover()
                else:
                    await self._xadd(fields)
                break
            except NETWORK_ERRORS as e:
                self._mark_down("push", e)
                delay = backoff.next_delay()
                if asyncio.get_running_loop().time() + delay > deadline:
                    raise RRError(f"redis pipeline {self.pipeline}: push failed: {e}") from e
                log.warning("redis pipeline %s: push cannot reach redis (attempt %d): %s",
                            self.pipeline, backoff.attempt, describe(e))
                await asyncio.sleep(delay)
                self._check_open()
            except RedisError as e:
                raise RRError(f"redis pipeline {self.pipeline}: push failed: {e}") from e
        self._mark_up()

    async def _xadd(self, fields: list[bytes]) -> None:
        mapping = dict(zip(fields[0::2], fields[1::2], strict=True))
        if self.max_len:
            await self._client.xadd(self.stream, mapping,  # type: ignore[arg-type]
                                    maxlen=self.max_len, approximate=True)
        else:
            await self._client.xadd(self.stream, mapping)  # type: ignore[arg-type]

    # -- settling -------------------------------------------------------------------------
    async def requeue_copy(self, delivery: RedisDelivery, headers: Headers,
                           delay: int) -> None:
        """Add a copy (headers, delay) and ack the original, atomically (one Lua call)."""
        if self._stopped:
            raise RRError(STOPPED)
        if delivery.settled:
            return
        job = delivery.job
        clone = job.requeued(headers, delay)
        original = "" if delivery.auto_acked else delivery.entry_id
        try:
            await self._requeue(
                keys=[self.stream, self.delayed_key],
                args=[self.group, original, "1" if self.delete_after_ack else "0",
                      clone.delay * 1000, self.max_len,
                      pack_fields(encode_job(clone, self.pipeline))])
        except NETWORK_ERRORS as e:
            # the entry stays pending; forgetting it here lets the reclaimer redeliver it
            # after visibility_timeout (at-least-once), instead of the keeper refreshing it
            self._mark_down("settle", e)
            self.release(delivery)
            raise RRError(f"redis pipeline {self.pipeline}: {e}") from e
        if clone.delay > 0:
            self._delay_wakeup.set()
            self._ensure_mover()
        self.release(delivery)
        self._mark_up()

    async def _ack_ids(self, ids: list[str]) -> None:
        # Pipelined, not MULTI/EXEC: XACK first, so the worst a failure in between leaves
        # is an acked entry still in the stream (never read again by the group), not a
        # job lost or run twice.
        pipe = self._client.pipeline(transaction=False)
        pipe.xack(self.stream, self.group, *ids)
        if self.delete_after_ack:
            pipe.xdel(self.stream, *ids)
        await pipe.execute()

    def ack_later(self, entry_id: str) -> None:
        self._acks.add(entry_id)

    def release(self, delivery: RedisDelivery) -> None:
        delivery.settled = True
        if self._inflight.get(delivery.entry_id) is delivery:
            del self._inflight[delivery.entry_id]
        if self.prefetch - len(self._inflight) >= self._low_water:
            self._slots.set()

    # -- consuming ------------------------------------------------------------------------
    async def run(self) -> None:
        self._check_open()
        if self._consuming:
            raise RRError(f"{DRIVER} listener is already in the active state")
        # wait for a paused loop to finish its last read before reading again
        await join_tasks(self._tasks)
        self._consuming = True
        self._wake.clear()
        try:
            await self._ensure_group()
            self._mark_up()
        except NETWORK_ERRORS as e:
            # not fatal: the loop below keeps retrying and /ready reports the outage
            self._mark_down("connect", e)
            log.warning("redis pipeline %s: cannot reach redis (%s); retrying in background",
                        self.pipeline, describe(e))
        self._tasks = [asyncio.create_task(self._consume_loop(), name=f"redis-{self.pipeline}")]
        if self.visibility_ms:
            self._tasks.append(asyncio.create_task(self._keeper_loop(),
                                                   name=f"redis-keeper-{self.pipeline}"))
        self._ensure_mover()

    async def resume(self) -> None:
        await self.run()

    async def pause(self) -> None:
        await self._pause_loops(timeout=self.block_ms / 1000 + 2.0)

    def _wake_loops(self) -> None:
        self._wake.set()
        self._slots.set()

    async def _free_slots(self) -> int:
        """Wait until at least half the prefetch window is free: reading one entry per
        XREADGROUP each time one job finishes would cost a round trip per job."""
        while self._consuming and self.prefetch - len(self._inflight) < self._low_water:
            self._slots.clear()
            await self._slots.wait()
        return self.prefetch - len(self._inflight)

    async def _consume_loop(self) -> None:
        backoff = Backoff()
        # our own pending entries first (a restart under a fixed consumer name, or acks that
        # failed while the connection was down), then new ones
        cursor = "0"
        while self._consuming:
            try:
                count = await self._free_slots()
                if not self._consuming:
                    break
                await self._ensure_group()
                reply: Any = await self._reader.xreadgroup(
                    self.group, self.consumer, {self.stream: cursor}, count=count,
                    block=None if cursor != ">" else self.block_ms)
                self._mark_up()
                backoff.reset()
            except NETWORK_ERRORS as e:
                self._mark_down("consume", e)
                delay = backoff.next_delay()
                log.warning("redis pipeline %s: connection failed (attempt %d): %s; "
                            "retrying in %.1fs", self.pipeline, backoff.attempt, describe(e), delay)
                await self._nap(delay)
                continue
            except ResponseError as e:
                if "NOGROUP" in str(e):  # the stream was deleted under us: recreate
                    self._group_ready = False
                    continue
                self._last_error = str(e)
                log.error("redis pipeline %s: %s", self.pipeline, e)
                await self._nap(backoff.next_delay())
                continue
            entries = reply[0][1] if reply else []
            if cursor != ">":
                if not entries:
                    cursor = ">"
                    continue
                cursor = _text(entries[-1][0])
            for entry_id, fields in entries:
                try:
                    pending = self._deliver(_text(entry_id), fields)
                    if pending is not None:
                        await pending
                except NETWORK_ERRORS as e:
                    # still pending on the broker: reclaimed after visibility_timeout
                    self._mark_down("consume", e)

    def _deliver(self, entry_id: str,
                 fields: dict[bytes, bytes] | None) -> Awaitable[None] | None:
        """Hand one entry to the core, unless it is already in flight here. Returns what
        is left to await in the rare cases that wait (a full queue, an auto_ack or a
        trimmed entry), else None: no coroutine per entry on the common path."""
        if entry_id in self._inflight:
            return None
        if fields is None:  # deleted while pending (e.g. trimmed): nothing to run
            return self._ack_ids([entry_id])
        job = decode_entry(fields, entry_id, self.pipeline, self.priority)
        delivery = RedisDelivery(self, entry_id, job)
        if job.auto_ack:
            return self._deliver_auto_acked(delivery)
        return self._hand_over(delivery)

    def _hand_over(self, delivery: RedisDelivery) -> Awaitable[None] | None:
        self._inflight[delivery.entry_id] = delivery
        # the shared queue takes it without a task switch unless it is full
        if self._offer is None or not self._offer(delivery):
            return self.sink(delivery)
        return None

    async def _deliver_auto_acked(self, delivery: RedisDelivery) -> None:
        await self._ack_ids([delivery.entry_id])
        delivery.auto_acked = True
        pending = self._hand_over(delivery)
        if pending is not None:
            await pending

    async def _keeper_loop(self) -> None:
        """Keep our in-flight entries fresh and take over entries a dead consumer left."""
        interval = max(0.2, self.visibility_ms / 3000)
        cursor = "0-0"
        while self._consuming:
            await self._nap(interval)
            if not self._consuming:
                break
            try:
                ids: list[Any] = list(self._inflight)
                for i in range(0, len(ids), 100):
                    await self._client.xclaim(self.stream, self.group, self.consumer, 0,
                                              ids[i:i + 100], justid=True)
                free = self.prefetch - len(self._inflight)
                if free <= 0:
                    continue
                reply = await self._client.xautoclaim(
                    self.stream, self.group, self.consumer, self.visibility_ms,
                    start_id=cursor, count=free)
            except NETWORK_ERRORS as e:
                self._mark_down("reclaim", e)
                continue
            except ResponseError as e:
                if "NOGROUP" in str(e):
                    self._group_ready = False
                continue
            cursor = _text(reply[0])
            try:
                for entry_id, fields in reply[1]:
                    log.info("redis pipeline %s: reclaimed %s after %d ms idle",
                             self.pipeline, _text(entry_id), self.visibility_ms)
                    pending = self._deliver(_text(entry_id), fields)
                    if pending is not None:
                        await pending
                if len(reply) > 2 and reply[2]:  # entries deleted while pending
                    await self._client.xack(self.stream, self.group, *reply[2])
            except NETWORK_ERRORS as e:
                self._mark_down("reclaim", e)

    # -- delayed jobs ---------------------------------------------------------------------
    def _ensure_mover(self) -> None:
        if self._stopped or (self._mover is not None and not self._mover.done()):
            return
        self._mover = asyncio.create_task(self._mover_loop(), name=f"redis-mover-{self.pipeline}")

    async def _mover_loop(self) -> None:
        backoff = Backoff()
        while not self._stopped:
            try:
                moved = await self._move(keys=[self.delayed_key, self.stream],
                                         args=[100, self.max_len])
                if moved:
                    continue
                head = await self._client.zrange(self.delayed_key, 0, 0, withscores=True)
                backoff.reset()
            except NETWORK_ERRORS as e:
                self._mark_down("delayed mover", e)
                delay = backoff.next_delay()
                log.warning("redis pipeline %s: delayed mover cannot reach redis "
                            "(attempt %d): %s", self.pipeline, backoff.attempt, describe(e))
                await asyncio.sleep(delay)
                continue
            except RedisError as e:
                log.error("redis pipeline %s: delayed mover: %s", self.pipeline, e)
                await asyncio.sleep(backoff.next_delay())
                continue
            # sleep until the next due time (by our clock, capped) or until a new delay push;
            # the server clock decides, so waking a little early or late is harmless
            wait = 1.0
            if head:
                now_ms = await self._server_ms()
                wait = min(1.0, max(0.02, (float(head[0][1]) - now_ms) / 1000))
            self._delay_wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._delay_wakeup.wait(), wait)

    async def _server_ms(self) -> float:
        secs, micros = await self._client.time()
        return secs * 1000 + micros / 1000

    # -- lifecycle ------------------------------------------------------------------------
    async def stop(self) -> None:
        if self._stopped:
            return
        self._consuming = False
        self._wake.set()
        self._slots.set()
        await join_tasks(self._tasks, timeout=self.block_ms / 1000 + 2.0)
        self._stopped = True
        if self._mover is not None:
            self._mover.cancel()
            await asyncio.gather(self._mover, return_exceptions=True)
        try:
            if not await self._acks.flush(timeout=5.0):
                log.warning("redis pipeline %s: stop could not send %d acks; those jobs "
                            "are reclaimed and run again after visibility_timeout",
                            self.pipeline, len(self._acks.discard()))
            await self._return_unsettled()
            if self.delete_stream_on_stop:
                await self._client.delete(self.stream, self.delayed_key)
            else:
                await self._forget_consumer()
        except NETWORK_ERRORS as e:
            log.warning("redis pipeline %s: stop could not reach redis (%s); unsettled "
                        "jobs are reclaimed after visibility_timeout", self.pipeline,
                        describe(e))
        except RedisError as e:
            log.error("redis pipeline %s: stop: %s", self.pipeline, e)
        finally:
            await self._reader.aclose()
            await self._client.aclose()

    async def _return_unsettled(self) -> None:
        """Give every job that was received but not settled back to the stream's tail."""
        pending = [d for d in self._inflight.values() if not d.settled and not d.auto_acked]
        for d in pending:
            await self._requeue(
                keys=[self.stream, self.delayed_key],
                args=[self.group, d.entry_id, "1" if self.delete_after_ack else "0", 0,
                      self.max_len, pack_fields(encode_job(d.job, self.pipeline))])
            d.settled = True
        if pending:
            log.info("redis pipeline %s: returned %d unsettled jobs to the stream",
                     self.pipeline, len(pending))
        self._inflight.clear()

    async def _forget_consumer(self) -> None:
        """Drop our consumer from the group when it owns nothing (DELCONSUMER would discard
        pending entries, so only an empty consumer is deleted)."""
        if not self._group_ready:
            return
        owned = await self._client.xpending_range(self.stream, self.group, "-", "+", 1,
                                                  consumername=self.consumer)
        if not owned:
            await self._client.xgroup_delconsumer(self.stream, self.group, self.consumer)

    # -- dead letters (rr jobs dlq) -------------------------------------------------------
    async def dead_letters(self, limit: int | None, offset: int) -> list[tuple[Job, str]]:
        """The stream's entries in order (``XRANGE``; a dead-letter pipeline is not
        consumed, so all it holds are dead letters); reference = the entry id."""
        try:
            count = None if limit is None else offset + limit
            entries: Any = await self._client.xrange(self.stream, "-", "+", count=count)
        except RedisError as e:
            raise RRError(f"redis pipeline {self.pipeline}: {e}") from e
        return [(decode_entry(fields, _text(entry_id), self.pipeline, self.priority),
                 _text(entry_id)) for entry_id, fields in entries[offset:]]

    async def forget(self, ref: str) -> None:
        await self._client.xdel(self.stream, ref)

    async def state(self) -> PipelineState:
        st = PipelineState(pipeline=self.pipeline, driver=DRIVER, queue=self.stream,
                           ready=self._consuming, priority=self.priority,
                           connected=self._connected, error=self._last_error)
        try:
            pipe = self._client.pipeline(transaction=False)
            pipe.xlen(self.stream)
            pipe.zcard(self.delayed_key)
            pipe.xinfo_groups(self.stream)
            length, delayed, groups = await pipe.execute(raise_on_error=False)
        except NETWORK_ERRORS as e:
            self._mark_down("state", e)
            st.connected, st.error = False, self._last_error
            return st
        st.delayed = int(delayed) if isinstance(delayed, int) else 0
        group = None
        if isinstance(groups, list):
            group = next((g for g in groups if _text(g.get("name", b"")) == self.group), None)
        if group is None:
            st.active = int(length) if isinstance(length, int) else 0
        else:
            st.reserved = int(group.get("pending") or 0)
            lag = group.get("lag")
            # lag is unknown (None) after deletions in the middle of the stream
            st.active = int(lag) if lag is not None else max(0, int(length) - st.reserved)
        return st
