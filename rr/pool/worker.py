"""One PHP worker process and its frame channel (spec/worker-protocol.md).

Frames are parsed in the protocol callbacks (no StreamReader on the hot path) and handed
to whoever awaits the reply. A frame that arrives while no request is in flight is a
stray frame (e.g. the SDK README's "respond then error()" pattern): it goes to
``on_stray`` (the pool), which marks the worker out of step so that it is brought back in
step (a pid round trip) before its next request; it never becomes another request's reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from collections.abc import Callable
from typing import Any

from rr.goridge import frame as fr
from rr.goridge.frame import Frame, FrameError, FrameParser
from rr.pool.errors import WorkerError
from rr.pool.state import WorkerState

STOP_COMMAND = fr.encode(b'{"stop":true}', fr.CONTROL | fr.CODEC_JSON)
STOP_REQUEST = b'{"stop":true}'
#: a CONTROL pid request in the middle of the session: PHP answers it in order, after
#: every frame it already wrote (spec/php-sdk-observed.md: the handshake may be repeated)
PID_REQUEST = fr.encode(json.dumps({"pid": os.getpid()}).encode(), fr.CONTROL | fr.CODEC_JSON)
PONG = fr.encode(b"", 0, (), fr.PONG)
STREAM_STOP = fr.encode(b"", 0, (), fr.STOP)
STDERR_KEEP = 8192
EXIT_GRACE = 0.2


class Channel:
    """Where frames for a worker go out (pipe or socket transport)."""

    def __init__(self, write: Callable[[bytes], None], close: Callable[[], None]) -> None:
        self.write = write
        self.close = close


class Worker:
    """A live PHP process. The pool owns the state transitions; the worker owns I/O."""

    def __init__(self, pid: int, command: list[str], logger: logging.Logger) -> None:
        self.pid = pid
        self.command = command
        self.log = logger
        self.state = WorkerState.INACTIVE
        self.num_execs = 0
        self.created_ns = time.time_ns()
        self.created = time.monotonic()
        self.last_used = time.monotonic()
        #: when it last went back to the idle queue (the dynamic allocator retires the
        #: extra workers idle for idle_timeout)
        self.idle_since = self.last_used
        self.max_jobs = 0
        self.generation = 0
        self.retire = False  # stop when released (reset / supervisor while working)
        self.channel: Channel | None = None
        self._loop = asyncio.get_running_loop()
        self.exited: asyncio.Future[int | None] = self._loop.create_future()
        self._parser = FrameParser()
        self._waiter: asyncio.Future[Frame] | None = None
        self._pending: list[Frame] = []
        self._in_flight = False
        self._broken: BaseException | None = None
        self._stderr_tail = bytearray()
        self._transport: asyncio.SubprocessTransport | None = None
        #: frames from a past request may still come: resync before the next request
        self.out_of_step = False
        #: the worker sent {"stop":true} (worker-initiated stop): it takes no more work
        self.stop_signalled = False
        #: pid answers still to come for resyncs that did not wait for them
        self.pid_acks = 0
        #: the back-off its pool slot needed before this worker started
        self.slot_backoff = 0.0
        self.on_stray: Callable[[Worker, Frame], None] = _ignore_stray

    # -- I/O callbacks -------------------------------------------------------------
    def on_data(self, data: bytes) -> None:
        try:
            frames = self._parser.feed(data)
        except FrameError as e:
            # report what the worker actually wrote (PHP warnings, echo, "Could not open
            # input file"), not just the 12 bytes that failed as a header
            shown = data[:1024].decode("utf-8", "replace").strip()
            text = str(e)
            if text.startswith("file not found"):
                text = "file not found: " + shown
            elif "invalid message: " in text:
                text = text.split("invalid message: ")[0] + "invalid message: " + shown
            self.log.error("worker script not found" if text.startswith("file not found")
                           else "invalid data found in the buffer (possible echo)",
                           extra={"fields": {"pid": self.pid, "error": text}})
            self.fail(WorkerError(text))
            self.kill()
            return
        for f in frames:
            w = self._waiter
            if w is not None and not w.done():
                self._waiter = None
                w.set_result(f)
            elif self._in_flight:
                self._pending.append(f)
            elif self.state not in (WorkerState.READY, WorkerState.WORKING,
                                    WorkerState.INACTIVE):
                # a worker on its way out: spiral/roadrunner-tcp answers the stop command
                # with one last CLOSE frame
                self.log.debug("frame from a stopping worker discarded",
                               extra={"fields": {"pid": self.pid, "size": len(f.payload)}})
            else:
                self.on_stray(self, f)

    def on_stderr(self, data: bytes) -> None:
        self._stderr_tail += data
        if len(self._stderr_tail) > STDERR_KEEP:
            del self._stderr_tail[:-STDERR_KEEP]
        text = data.decode("utf-8", "replace").rstrip("\n")
        if text:
            self.log.info(text, extra={"fields": {"pid": self.pid}})

    def on_eof(self) -> None:
        if self.exited.done():
            self.fail(WorkerError(f"worker process exited with code {self.exited.result()}"))
        else:
            self.fail(WorkerError("worker process closed its relay (EOF)"))

    def on_exit(self, code: int | None) -> None:
        if not self.exited.done():
            self.exited.set_result(code)
        # what it wrote before exiting (a PHP "Could not open input file" on stdout, a
        # last frame) is still in the pipe: fail on the relay's EOF, which follows, or
        # shortly, when a child process of the worker holds the relay open
        self._loop.call_later(EXIT_GRACE, self.fail,
                              WorkerError(f"worker process exited with code {code}"))

    def fail(self, exc: BaseException) -> None:
        if self._broken is None:
            self._broken = exc
        w = self._waiter
        if w is not None and not w.done():
            self._waiter = None
            w.set_exception(exc)

    @property
    def stderr_tail(self) -> str:
        return self._stderr_tail.decode("utf-8", "replace").strip()

    @property
    def busy(self) -> bool:
        """A request (or stream) is in flight on this worker."""
        return self._in_flight

    @property
    def alive(self) -> bool:
        return self._broken is None and not self.exited.done()

    # -- frames ----------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        if self._broken is not None:
            raise WorkerError(str(self._broken))
        assert self.channel is not None
        self.channel.write(data)

    def recv(self) -> asyncio.Future[Frame]:
        """Future for the next frame from the worker."""
        fut: asyncio.Future[Frame] = self._loop.create_future()
        if self._pending:
            fut.set_result(self._pending.pop(0))
        elif self._broken is not None:
            fut.set_exception(WorkerError(str(self._broken)))
        else:
            self._waiter = fut
        return fut

    def begin(self) -> None:
        """A request is about to be sent: frames are replies until end()."""
        self._pending.clear()
        self._in_flight = True

    def end(self) -> None:
        """The request is settled: frames already read past its reply are strays."""
        self._in_flight = False
        if self._pending:
            frames, self._pending = self._pending, []
            for f in frames:
                self.on_stray(self, f)

    async def handshake(self) -> None:
        """pid handshake (§3): CONTROL|JSON {"pid": <ours>} -> CONTROL {"pid": <theirs>}."""
        self.begin()
        try:
            self.send(fr.encode(json.dumps({"pid": os.getpid()}).encode(),
                                fr.CONTROL | fr.CODEC_JSON))
            f = await self.recv()
        finally:
            self.end()
        if not f.flags & fr.CONTROL:
            raise WorkerError("unexpected response, header is missing, no CONTROL flag")
        try:
            pid = int(json.loads(f.payload).get("pid", 0))
        except (ValueError, AttributeError, TypeError):
            raise WorkerError(f"invalid pid reply: {f.payload[:100]!r}") from None
        if pid <= 0:
            raise WorkerError("pid should be greater than 0")

    # -- process control -----------------------------------------------------------
    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)

    async def stop(self, grace: float) -> None:
        """Stop command, then SIGKILL after ``grace`` seconds."""
        try:
            if not self.exited.done():
                try:
                    if self._broken is None and self.channel is not None:
                        self.channel.write(STOP_COMMAND)
                except Exception:  # noqa: BLE001 - the process may be gone already
                    pass
                try:
                    await asyncio.wait_for(asyncio.shield(self.exited), grace)
                except TimeoutError:
                    self.log.warning("worker doesn't respond on stop command, killing process",
                                     extra={"fields": {"pid": self.pid}})
                    self.kill()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(asyncio.shield(self.exited), 5)
        finally:
            # also when cancelled (pool destroy): a transport left open is closed by the
            # garbage collector after the loop is gone
            if self.channel is not None:
                self.channel.close()

    # -- informer ------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        mem, cpu = process_stats(self.pid)
        return {
            "pid": self.pid,
            "status": int(self.state),
            "numExecs": self.num_execs,
            "created": self.created_ns,
            "memoryUsage": mem,
            "CPUPercent": cpu,
            "command": "",
            "statusStr": self.state.label,
        }


def is_stop_request(f: Frame) -> bool:
    """A worker-initiated stop (F6): a data frame whose context is {"stop":true}."""
    return (not f.flags & (fr.CONTROL | fr.ERROR) and not f.byte10 & fr.STREAM
            and f.options == (len(STOP_REQUEST),) and f.payload == STOP_REQUEST)


def _ignore_stray(w: Worker, f: Frame) -> None:
    w.out_of_step = True


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _boot_time() -> float:
    try:
        with open("/proc/stat") as f:
            for line in f:
                if line.startswith("btime"):
                    return float(line.split()[1])
    except OSError:
        pass
    return 0.0


_BOOT = _boot_time()


def rss_bytes(pid: int) -> int:
    """Resident set size from /proc/<pid>/statm (pages x page size), 0 if gone."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


def process_stats(pid: int) -> tuple[int, float]:
    """(RSS bytes, lifetime CPU percent) as RoadRunner's informer reports them."""
    mem = rss_bytes(pid)
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        utime, stime, start = int(fields[11]), int(fields[12]), int(fields[19])
        wall = time.time() - (_BOOT + start / _TICKS)
        cpu = ((utime + stime) / _TICKS) / wall * 100 if wall > 0 else 0.0
    except (OSError, IndexError, ValueError):
        cpu = 0.0
    return mem, round(cpu, 2)
