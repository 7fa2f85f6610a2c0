"""The control channel between rr and one front process (``http.processes`` or
``grpc.processes`` > 1).

One JSON object a line over a socketpair the front inherits. rr sends
``{"id": n, "op": ..., "args": {...}}``; the front answers ``{"id": n, "result": ...}``
or ``{"id": n, "error": "..."}``. Lines, not goridge frames: both ends are rr, the
traffic is a handful of calls per scrape or CLI command, and a line is easy to read in a
trace. Calls may overlap (a scrape during a reset), so replies carry the id.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Awaitable, Callable
from typing import Any

#: a scrape carries the worker list and the series: far below this
LINE_LIMIT = 64 * 1024 * 1024


class FrontGone(Exception):
    """The front process closed its end (it exited or was killed)."""


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":"), default=str).encode() + b"\n"


class Client:
    """rr's end: ``await call(op, **args)`` -> the front's result, or FrontGone/RuntimeError."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._closed = False
        self._task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        try:
            while True:
                line = await self._reader.readline()
                if not line:
                    break
                msg = json.loads(line)
                fut = self._pending.pop(int(msg.get("id", 0)), None)
                if fut is None or fut.done():
                    continue
                if "error" in msg:
                    fut.set_exception(RuntimeError(str(msg["error"])))
                else:
                    fut.set_result(msg.get("result"))
        except (ConnectionError, ValueError, asyncio.IncompleteReadError):
            pass
        finally:
            self._closed = True
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(FrontGone("the front process is gone"))
            self._pending.clear()

    async def call(self, op: str, timeout: float | None = None, **args: Any) -> Any:
        if self._closed:
            raise FrontGone("the front process is gone")
        n = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[n] = fut
        try:
            self._writer.write(encode({"id": n, "op": op, "args": args}))
            await self._writer.drain()
        except (ConnectionError, RuntimeError):
            self._pending.pop(n, None)
            raise FrontGone("the front process is gone") from None
        return await asyncio.wait_for(fut, timeout)

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


Handler = Callable[..., Awaitable[Any]]


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                ops: dict[str, Handler]) -> None:
    """The front's end: run each call as its own task (a reset must not block a scrape)
    until rr closes the channel."""
    tasks: set[asyncio.Task[None]] = set()

    async def one(msg: dict[str, Any]) -> None:
        reply: dict[str, Any] = {"id": msg.get("id", 0)}
        handler = ops.get(str(msg.get("op")))
        try:
            if handler is None:
                raise RuntimeError(f"unknown front operation {msg.get('op')!r}")
            reply["result"] = await handler(**dict(msg.get("args") or {}))
        except Exception as e:  # noqa: BLE001 - reported to rr, which raises it
            reply["error"] = str(e) or type(e).__name__
        with contextlib.suppress(ConnectionError, RuntimeError):
            writer.write(encode(reply))
            await writer.drain()

    while True:
        line = await reader.readline()
        if not line:
            break
        task = asyncio.get_running_loop().create_task(one(json.loads(line)))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
