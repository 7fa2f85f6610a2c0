"""One front process (``http.processes`` or ``grpc.processes`` > 1):
``python -m rr.fronts.child <fd> <plugin>`` (named ``rr.<plugin>.frontchild`` in ps).

rr starts it with the control socket at ``<fd>`` and the listening sockets inherited; the
first call (``start``) brings the config (already loaded and expanded by rr, with this
front's share of the pool), the listener fds and the front's index. From then on it is
the single-process plugin (http or grpc) on those sockets, answering rr's calls for
workers, reset, health and the plugin's series. It stops gracefully on ``stop``, on SIGTERM, or when
rr goes away (the control socket closes; the parent-death signal covers a SIGKILL).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import signal
import socket
import sys
from pathlib import Path
from typing import Any, Protocol

from rr.app import App
from rr.config import Config
from rr.fronts import control as frontctl
from rr.metrics.samples import families
from rr.pool.pool import Pool

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """SIGTERM this process when rr dies, however it dies (Linux prctl)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM))


class Served(Protocol):
    """What a front serves: the one-process plugin, on the sockets rr gives it."""

    name: str
    inherited: dict[str, list[socket.socket]]

    @property
    def pool(self) -> Pool: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def reset(self) -> None: ...

    def health(self) -> int: ...

    def ready(self) -> int: ...


def build(name: str, app: App) -> Served:
    """The plugin a front of ``name`` runs (imported here: a front loads only its own)."""
    if name == "grpc":
        from rr.grpc.plugin import GrpcPlugin

        return GrpcPlugin(app)
    from rr.http.plugin import HttpPlugin

    return HttpPlugin(app)


class Front:
    def __init__(self, name: str = "http") -> None:
        self.name = name
        self.app: App | None = None
        self.plugin: Served | None = None
        self.done = asyncio.Event()
        self._stopping: asyncio.Task[None] | None = None

    def _plugin(self) -> Served:
        if self.plugin is None:
            raise RuntimeError("the front is not started")
        return self.plugin

    # operations --------------------------------------------------------------------
    async def start(self, config: dict[str, Any], file: str | None, workdir: str,
                    listeners: dict[str, list[int]], index: int) -> dict[str, Any]:
        cfg = Config(config, Path(file) if file else None, Path(workdir))
        from rr.logs import setup_logging

        setup_logging(cfg)
        self.app = App(cfg)
        plugin = build(self.name, self.app)
        plugin.inherited = {kind: [socket.socket(fileno=fd) for fd in fds]
                            for kind, fds in listeners.items()}
        self.app.plugins[plugin.name] = plugin
        self.plugin = plugin
        await plugin.start()
        return {"index": index}

    async def workers(self) -> list[dict[str, Any]]:
        return [w.to_dict() for w in self._plugin().pool.workers()]

    async def scrape(self) -> dict[str, Any]:
        assert self.app is not None
        return {"workers": await self.workers(), "families": families(self.app.metrics)}

    async def reset(self) -> bool:
        await self._plugin().reset()
        return True

    async def add_worker(self) -> int:
        await self._plugin().pool.add_worker()
        return len(self._plugin().pool.workers())

    async def remove_worker(self) -> int:
        pool = self._plugin().pool
        if len(pool.workers()) > 1:
            await pool.remove_worker()
        return len(pool.workers())

    async def health(self) -> int:
        return self._plugin().health()

    async def ready(self) -> int:
        return self._plugin().ready()

    async def stop(self, grace: float) -> bool:
        await self._stop(grace)
        return True

    # lifecycle ---------------------------------------------------------------------
    def _stop(self, grace: float) -> asyncio.Task[None]:
        """One graceful stop, however many ask for it."""
        if self._stopping is None:
            self._stopping = asyncio.get_running_loop().create_task(self._drain(grace))
        return self._stopping

    async def _drain(self, grace: float) -> None:
        try:
            if self.plugin is not None and self.app is not None:
                loop = asyncio.get_running_loop()
                self.app.shutting_down = True
                self.app.stop_deadline = loop.time() + grace
                await asyncio.wait_for(self.plugin.stop(), grace + 1)
        finally:
            self.done.set()

    def ops(self) -> dict[str, frontctl.Handler]:
        return {"start": self.start, "workers": self.workers, "scrape": self.scrape,
                "reset": self.reset, "add_worker": self.add_worker,
                "remove_worker": self.remove_worker, "health": self.health,
                "ready": self.ready, "stop": self.stop}


async def main(fd: int, name: str = "http") -> int:
    front = Front(name)
    loop = asyncio.get_running_loop()

    def grace() -> float:
        return front.app.grace_period() if front.app is not None else 30.0

    loop.add_signal_handler(signal.SIGTERM, lambda: front._stop(grace()))
    loop.add_signal_handler(signal.SIGINT, lambda: None)  # rr coordinates the stop
    reader, writer = await asyncio.open_connection(
        sock=socket.socket(fileno=fd), limit=frontctl.LINE_LIMIT)
    channel = loop.create_task(frontctl.serve(reader, writer, front.ops()))
    channel.add_done_callback(lambda _: front._stop(grace()))  # rr went away
    await front.done.wait()
    # rr closes the channel once it has the reply to ``stop``; a stop of our own (SIGTERM)
    # gives up waiting for that soon
    with contextlib.suppress(Exception):
        await asyncio.wait_for(channel, 2.0)
    return 0


def run() -> int:
    _die_with_parent()
    from rr.malloc import pin_mmap_threshold

    pin_mmap_threshold()
    fd, name = int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "http"
    try:
        import uvloop

        return int(uvloop.run(main(fd, name)))
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return int(asyncio.run(main(fd, name)))


if __name__ == "__main__":
    raise SystemExit(run())
