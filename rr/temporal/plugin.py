"""The temporal plugin (spec/temporal.md §1.2): pools, handshake, client, one sdk-core
worker per PHP task queue.

Start never blocks on the cluster: the pools and the GetWorkerInfo handshake are done
in ``start`` (a PHP worker that cannot answer is a start error), the connection and the
Temporal workers come up in the background, and ``/ready`` stays false until they run.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rr.config import Section
from rr.errors import RRError
from rr.temporal import bridge
from rr.temporal.activities import Activities
from rr.temporal.client import Connection
from rr.temporal.config import TemporalConfig
from rr.temporal.workflows import Workflows
from rr.temporal.ww import WorkflowProcess, activity_names, workflow_names

if TYPE_CHECKING:
    from rr.app import App
    from rr.pool.pool import Pool

WW_ALLOCATE_TIMEOUT = 240 * 3600.0
RESET_TIMEOUT = 30.0


def create(app: App) -> TemporalPlugin | None:
    if not app.config.has("temporal"):
        return None
    return TemporalPlugin(app)


@dataclass
class TaskQueueWorker:
    task_queue: str
    bridge: Any
    workflows: Workflows
    activities: Activities
    loops: list[asyncio.Task[None]]


class TemporalPlugin:
    name = "temporal"

    def __init__(self, app: App) -> None:
        self.app = app
        self.log = app.logger("temporal")
        self.section = app.config.section("temporal")
        self.cfg = TemporalConfig.from_section(self.section)
        self.conn = Connection(self.cfg, self.log)
        self.activity_pool: Pool | None = None
        self.ww_pool: Pool | None = None
        self.ww: WorkflowProcess | None = None
        self.entries: list[dict[str, Any]] = []
        self.workers: list[TaskQueueWorker] = []
        self._bg: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()
        from rr.temporal.replay import Replayer

        self.replayer = Replayer(self, self.log)
        from rr.temporal.metrics import QueueSizeCollector
        from rr.temporal.rpc import register

        register(app.rpc, self)
        app.metrics.register(QueueSizeCollector(
            lambda: self.activity_pool.queue_size if self.activity_pool else 0,
            lambda: self.ww_pool.queue_size if self.ww_pool else 0))

    # -- pools -----------------------------------------------------------------------------
    def _make_pools(self) -> tuple[Pool, Pool]:
        acts = self.section.section("activities")
        apool = self.app.make_pool("temporal", acts, mode="temporal")
        if self.cfg.disable_activity_workers:
            apool.target = 0
        raw = dict(acts.to_dict())
        raw.update(num_workers=1, allocate_timeout=f"{int(WW_ALLOCATE_TIMEOUT)}s",
                   max_jobs=0, max_queue_size=0, supervisor=None)
        raw.pop("dynamic_allocator", None)  # the workflow worker is one, always
        wpool = self.app.make_pool("temporal", Section(raw, "temporal.activities"),
                                   mode="temporal")
        for p in (apool, wpool):
            # the v5 plugin only speaks the proto codec; PHP picks its codec from this
            p.env["RR_CODEC"] = "protobuf"
        return apool, wpool

    @property
    def pool(self) -> Any:
        """informer/resetter view: the WW first, then the activity workers (§12)."""
        return _Pools(self)

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        self.activity_pool, self.ww_pool = self._make_pools()
        await asyncio.gather(self.activity_pool.start(), self.ww_pool.start())
        self.ww = WorkflowProcess(self.ww_pool)
        self.entries = await asyncio.wait_for(self.ww.worker_info(self.app.version), 60)
        self.log.debug("PHP-SDK version: %s", self.entries[0].get("PhpSdkVersion", ""))
        self._bg.append(asyncio.get_running_loop().create_task(self._serve()))

    async def _serve(self) -> None:
        try:
            api_key = str((self.entries[0].get("Flags") or {}).get("ApiKey") or "")
            await self.conn.dial(api_key)
            await self._start_workers()
            await self.conn.watch()
        except asyncio.CancelledError:
            raise
        except Exception as e:
            self.log.exception("temporal: cannot start Temporal workers")
            self.app.fail("temporal", e)

    async def _start_workers(self) -> None:
        assert self.ww is not None and self.activity_pool is not None
        for entry in self.entries:
            cfg = bridge.worker_config(entry, self.cfg.namespace, self.cfg.cache_size,
                                       self.cfg.disable_activity_workers)
            bw = await bridge.create(self.conn.client, cfg)
            tq = cfg.task_queue
            opts = entry.get("Options") or {}
            wf = Workflows(bw, self.ww, tq, self.cfg.namespace, set(workflow_names(entry)),
                           self.log, disable_eager=bool(opts.get("DisableEagerActivities")),
                           panic_fails_workflow=opts.get("WorkflowPanicPolicy") == 1)
            ac = Activities(bw, self.activity_pool, tq, self.cfg.namespace, self.log)
            loop = asyncio.get_running_loop()
            # local activities are polled on the activity side too, so both always run
            loops = [loop.create_task(wf.poll_loop()), loop.create_task(ac.poll_loop())]
            for t in loops:
                t.add_done_callback(self._loop_ended)
            self.workers.append(TaskQueueWorker(tq, bw, wf, ac, loops))

    def _loop_ended(self, t: asyncio.Task[None]) -> None:
        """A poll that fails with anything but shutdown is a fatal worker error in
        sdk-core (transient network errors are retried inside core): stop rr with it
        rather than serve a task queue nobody polls."""
        if t.cancelled() or t.exception() is None:
            return
        exc = t.exception()
        assert exc is not None
        self.log.error("temporal: task queue worker failed", extra={"fields": {
            "error": str(exc)}})
        self.app.fail("temporal", exc)

    async def _stop_workers(self, grace: float) -> None:
        """Stop polling, let in-flight activities finish within ``grace``, then release
        core's workers (a workflow task is never half-applied: each activation is
        completed as a whole, or failed and retried by Temporal)."""
        workers, self.workers = self.workers, []
        for w in workers:
            w.bridge.initiate_shutdown()
        for w in workers:
            await w.activities.drain(grace)
            done, pending = await asyncio.wait(w.loops, timeout=grace)
            for t in pending:
                t.cancel()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(w.bridge.finalize_shutdown(), grace)

    async def stop(self) -> None:
        for t in self._bg:
            t.cancel()
        grace = self.activity_pool.cfg.destroy_timeout if self.activity_pool else 60.0
        await self._stop_workers(grace)
        for p in (self.activity_pool, self.ww_pool):
            if p is not None:
                await p.destroy()

    async def reset(self) -> None:
        """`rr reset temporal` (§7.9): fresh PHP processes; cached runs replay."""
        async with self._lock:
            self.log.info("reset signal received, resetting activity and workflow worker "
                          "pools")
            if self.ww_pool is not None:
                await asyncio.wait_for(self.ww_pool.reset(), RESET_TIMEOUT)
                if not self.ww_pool.workers():
                    raise RRError("failed to allocate a workflow worker")
                self.log.info("workflow pool restarted")
            if self.activity_pool is not None:
                await asyncio.wait_for(self.activity_pool.reset(), RESET_TIMEOUT)
                self.log.info("activity pool restarted")
            if self.ww is not None:
                self.entries = await self.ww.worker_info(self.app.version)
            for w in self.workers:
                w.workflows.evict_stale()

    # -- status ----------------------------------------------------------------------------
    def _probe_pool(self) -> Pool | None:
        return self.ww_pool if self.cfg.disable_activity_workers else self.activity_pool

    def health(self) -> int:
        p = self._probe_pool()
        return 200 if p is not None and p.alive() else 503

    def ready(self) -> int:
        """Ready = a worker is ready AND the cluster answers AND the Temporal workers run."""
        p = self._probe_pool()
        if p is None or not p.ready() or not self.conn.connected or not self.workers:
            return 503
        return 200

    # -- RPC helpers -----------------------------------------------------------------------
    def heartbeat(self, token: bytes, details: bytes) -> dict[str, bool] | None:
        for w in self.workers:
            r = w.activities.heartbeat(token, details)
            if r is not None:
                return r
        return None

    def workflow_names(self) -> list[str]:
        return sorted({n for e in self.entries for n in workflow_names(e)})

    def activity_names(self) -> list[str]:
        return sorted({n for e in self.entries for n in activity_names(e)})


class _Pools:
    """Both pools as the informer sees them; add/remove act on the activity pool."""

    def __init__(self, plugin: TemporalPlugin) -> None:
        self.p = plugin

    def workers(self) -> list[Any]:
        out: list[Any] = []
        for pool in (self.p.ww_pool, self.p.activity_pool):
            if pool is not None:
                out.extend(pool.workers())
        return out

    async def add_worker(self) -> None:
        if self.p.activity_pool is not None:
            await self.p.activity_pool.add_worker()

    async def remove_worker(self) -> None:
        if self.p.activity_pool is not None:
            await self.p.activity_pool.remove_worker()

    async def reset(self) -> None:
        await self.p.reset()
