"""One supervised service process (spec/service.md §2): start, log its output, restart
per policy, stop with SIGINT then SIGKILL.

These are not goridge workers: no frames, no handshake; stdout and stderr are log text.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import time
from typing import Any

from rr.errors import RRError
from rr.pool.worker import process_stats
from rr.service.config import ServiceConfig

CHUNK = 64 * 1024
PUMP_GRACE = 0.5  # output still in the pipes when the process exits


class StartError(RRError):
    """The command could not be started (the text is Go's exec error, as RoadRunner's)."""


def resolve(argv: list[str], env: dict[str, str]) -> str:
    """The executable RoadRunner would run: argv[0] looked up in PATH unless it has a '/'."""
    if not argv or not argv[0]:
        raise StartError("exec: no command")
    exe = argv[0]
    if "/" in exe:
        return exe
    found = shutil.which(exe, path=env.get("PATH", os.defpath))
    if found is None:
        raise StartError(f'exec: "{exe}": executable file not found in $PATH')
    return found


def exit_text(code: int) -> str:
    """Go's text for a failed wait: ``exit status 1``, ``signal: killed``."""
    if code >= 0:
        return f"exit status {code}"
    try:
        name = signal.strsignal(-code) or f"signal {-code}"
    except ValueError:
        name = f"signal {-code}"
    return f"signal: {name[0].lower()}{name[1:]}"


class ServiceProcess:
    def __init__(self, cfg: ServiceConfig, log: logging.Logger) -> None:
        self.cfg = cfg
        self.log = log  # the plugin's logger (lifecycle lines)
        self.out = logging.getLogger(cfg.logger_name)  # the process output
        self.proc: asyncio.subprocess.Process | None = None
        self.command = ""  # resolved path and arguments, for the informer
        self.started_at = 0.0
        self.stopped = False  # stopped by rr: never restarted
        self._wake = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None
        self._pumps: list[asyncio.Task[None]] = []
        self._task: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc is not None else 0

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    # -- start ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the process (raise StartError if it cannot) and supervise it."""
        await self._spawn()
        self._task = asyncio.get_running_loop().create_task(self._supervise())

    async def _spawn(self) -> None:
        cfg = self.cfg
        argv = cfg.argv()
        env = cfg.environment()
        exe = resolve(argv, env)
        kwargs: dict[str, Any] = {"env": env, "start_new_session": True, "executable": exe,
                                  "stdin": subprocess.DEVNULL, "stdout": subprocess.PIPE,
                                  "stderr": subprocess.PIPE}
        if cfg.user:
            from rr.pool.spawn import _drop_privileges

            try:
                kwargs["preexec_fn"] = _drop_privileges(cfg.user)
            except Exception as e:  # noqa: BLE001 - the pool's WorkerError, reported as ours
                raise StartError(str(e).replace("server.user: ", "")) from None
        try:
            proc = await asyncio.create_subprocess_exec(argv[0], *argv[1:], **kwargs)
        except (OSError, subprocess.SubprocessError) as e:
            reason = (e.strerror or str(e)).lower() if isinstance(e, OSError) else str(e)
            raise StartError(f"fork/exec {exe}: {reason}") from None
        self.proc = proc
        self.command = " ".join([exe, *argv[1:]])
        self.started_at = time.time()
        self._pumps = [asyncio.get_running_loop().create_task(self._pump(s))
                       for s in (proc.stdout, proc.stderr) if s is not None]
        if cfg.exec_timeout > 0:
            self._timer = asyncio.get_running_loop().call_later(
                cfg.exec_timeout, self._signal, signal.SIGKILL)
        self.log.info("service was started", extra={"fields": {"name": cfg.name,
                                                                "command": cfg.command}})

    async def _pump(self, stream: asyncio.StreamReader) -> None:
        """One log entry per chunk read (≈ one write of the process), trimmed."""
        while chunk := await stream.read(CHUNK):
            text = chunk.decode("utf-8", "replace").strip()
            if text:
                self.out.info(text)

    # -- exit and restart -------------------------------------------------------------------
    async def _supervise(self) -> None:
        while True:
            proc = self.proc
            assert proc is not None
            code = await proc.wait()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            await self._drain_output()
            if code != 0:
                self.log.error("wait", extra={"fields": {"name": self.cfg.name,
                                                          "error": exit_text(code)}})
            if self.stopped or not self.cfg.remain_after_exit:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.cfg.restart_sec)
            if self.stopped:
                return
            try:
                await self._spawn()
            except StartError as e:
                # one attempt, as the reference: a command that cannot start is reported,
                # never retried in a loop
                self.log.error("process start error", extra={"fields": {
                    "name": self.cfg.name, "error": str(e)}})
                return
            if self.stopped:  # stop() came while this start was under way
                self._signal(signal.SIGKILL)

    async def _drain_output(self) -> None:
        """Let the pipes empty; a child that inherited them must not hold us forever."""
        pumps, self._pumps = self._pumps, []
        if not pumps:
            return
        _, pending = await asyncio.wait(pumps, timeout=PUMP_GRACE)
        for t in pending:
            t.cancel()

    # -- stop ---------------------------------------------------------------------------
    async def stop(self) -> None:
        """SIGINT, up to timeout_stop_sec for the exit, then SIGKILL; leftovers of its
        process group are killed too, so nothing it started outlives rr."""
        self.stopped = True
        self._wake.set()
        proc = self.proc
        try:
            if proc is not None and proc.returncode is None:
                self._signal(signal.SIGINT)
                try:
                    await asyncio.wait_for(asyncio.shield(proc.wait()), self.cfg.timeout_stop_sec)
                except TimeoutError:
                    self._signal(signal.SIGKILL)
                    await proc.wait()
            if self._task is not None:
                await self._task
        finally:
            self.kill_group()
        self.log.info("service was stopped", extra={"fields": {"name": self.cfg.name,
                                                                "pid": self.pid}})

    def kill_group(self) -> None:
        """SIGKILL whatever is left of the process group (also used when the stop is cut
        short by the server's grace deadline)."""
        self.stopped = True
        self._wake.set()
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    def _signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)

    # -- informer / status ---------------------------------------------------------------
    def stats(self) -> tuple[int, float]:
        """(RSS bytes, lifetime CPU %); raises when the process is gone."""
        if not self.running:
            raise RRError(f"get process state: process {self.pid} is not running")
        return process_stats(self.pid)

    def info(self) -> dict[str, Any]:
        mem, cpu = self.stats()
        return {"pid": self.pid, "status": 1, "numExecs": 0, "created": 0,
                "memoryUsage": mem, "CPUPercent": cpu, "command": self.command,
                "statusStr": ""}
