"""One front process (HTTP or gRPC) as rr sees it: start it, talk to it, keep it running.

The front is a fresh interpreter (``rr.fronts.child``), never a fork of
rr's running event loop. It inherits the listening sockets, so every front accepts from
the same kernel queue: a front that dies loses only the connections it had accepted,
and the others keep theirs; connections still waiting in the queue go to the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import rr
from rr.fronts.control import Client, FrontGone

#: the first restart waits this long; doubling up to MAX_BACKOFF while restarts fail fast
FIRST_BACKOFF = 0.1
MAX_BACKOFF = 5.0
#: a front that served this long before dying restarts with the first backoff again
STABLE_AFTER = 10.0
START_TIMEOUT = 120.0
#: the front runs the very rr package this process runs (found from its path, not from the
#: environment: rr may have changed directory, and the workers' environment stays as is);
#: "rr.<plugin>.frontchild" in argv names the process in ps
BOOT = (f"import sys; sys.argv.pop(1); sys.path.insert(0, "
        f"{str(Path(rr.__file__).resolve().parent.parent)!r}); "
        "from rr.fronts.child import run; raise SystemExit(run())")


class FrontProcess:
    def __init__(self, index: int, config: Callable[[], dict[str, Any]],
                 listeners: dict[str, list[int]], log: logging.Logger,
                 plugin: str = "http") -> None:
        self.index = index
        self.plugin = plugin
        self._config = config
        self.listeners = listeners
        self.log = log
        self.proc: asyncio.subprocess.Process | None = None
        self.client: Client | None = None
        self.stopping = False
        self._task: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def serving(self) -> bool:
        return self.client is not None and self.proc is not None \
            and self.proc.returncode is None

    async def start(self) -> None:
        """Start the process and wait until its listeners are open; raise (and leave no
        process behind) when it cannot start."""
        ours, theirs = socket.socketpair()
        fds = [fd for group in self.listeners.values() for fd in group]
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", BOOT, f"rr.{self.plugin}.frontchild",
                str(theirs.fileno()), self.plugin,
                stdin=subprocess.DEVNULL, pass_fds=(theirs.fileno(), *fds))
        finally:
            theirs.close()
        reader, writer = await asyncio.open_connection(sock=ours, limit=64 * 1024 * 1024)
        client = Client(reader, writer)
        data = self._config()
        try:
            await client.call("start", timeout=START_TIMEOUT, config=data["config"],
                              file=data["file"], workdir=data["workdir"],
                              listeners=self.listeners, index=self.index)
        except BaseException:
            await client.close()
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise
        self.proc, self.client = proc, client

    def supervise(self) -> None:
        """Replace the process whenever it exits until ``stop``."""
        self._task = asyncio.get_running_loop().create_task(self._supervise())

    async def _supervise(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = FIRST_BACKOFF
        while not self.stopping:
            began = loop.time()
            if self.proc is not None:
                code = await self.proc.wait()
                if self.stopping:
                    return
                self.log.error(f"{self.plugin} front process exited; starting a new one",
                               extra={"fields": {"front": self.index, "pid": self.proc.pid,
                                                 "code": code}})
                await self._forget()
            if loop.time() - began >= STABLE_AFTER:
                backoff = FIRST_BACKOFF
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)
            if self.stopping:
                return
            try:
                await self.start()
            except Exception as e:  # noqa: BLE001 - logged; the next attempt follows
                self.log.error(f"{self.plugin} front process failed to start",
                               extra={"fields": {"front": self.index, "error": str(e)}})
                continue
            self.log.info(f"{self.plugin} front process started",
                          extra={"fields": {"front": self.index, "pid": self.pid}})

    async def _forget(self) -> None:
        if self.client is not None:
            await self.client.close()
        self.client = None
        self.proc = None

    async def call(self, op: str, timeout: float | None = None, **args: Any) -> Any:
        if self.client is None:
            raise FrontGone(f"{self.plugin} front {self.index} is restarting")
        return await self.client.call(op, timeout=timeout, **args)

    async def stop(self, grace: float) -> None:
        """Drain within ``grace``; SIGKILL what is still running after it."""
        self.stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        proc = self.proc
        if proc is None:
            return
        with contextlib.suppress(FrontGone, RuntimeError, TimeoutError):
            await self.call("stop", timeout=grace + 2.0, grace=grace)
        await self._forget()
        try:
            await asyncio.wait_for(proc.wait(), 5.0)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
