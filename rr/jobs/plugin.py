"""The jobs plugin: pipelines -> one priority queue -> pollers -> the jobs worker pool.

Boot order (spec/jobs.md §1.3): build every pipeline's driver, start consuming the ones
in ``consume``, start the pool (RR_MODE=jobs), start the pollers. Shutdown drains: refuse
new pushes, pause the broker-backed pipelines and keep running the in-process backlog
(memory jobs would be lost) until it is empty or the grace period nears its end; then
stop the pollers (running jobs get what is left of ``jobs.timeout`` and the grace
period), give jobs that were queued but not started back to their drivers, stop the
drivers, then the pool.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from rr.errors import ConfigError, RRError
from rr.jobs.config import JobsConfig
from rr.jobs.dispatcher import Dispatcher
from rr.jobs.pipelines import Pipeline, build_pipeline
from rr.metrics.jobs import JobsMetrics
from rr.pipeline.driver import Delivery, PipelineState
from rr.pipeline.job import Job
from rr.pipeline.queue import PriorityQueue
from rr.ratelog import RateLimitedLog

if TYPE_CHECKING:
    from rr.app import App
    from rr.pool.pool import Pool


def create(app: App) -> JobsPlugin | None:
    if not app.config.has("jobs"):
        return None
    return JobsPlugin(app)


class JobsPlugin:
    name = "jobs"

    def __init__(self, app: App) -> None:
        self.app = app
        self.log = app.logger("jobs")
        self.section = app.config.section("jobs")
        self.cfg = JobsConfig.from_section(self.section)
        self.queue: PriorityQueue[Delivery] = PriorityQueue(self.cfg.pipeline_size)
        self.pipelines: dict[str, Pipeline] = {}
        self.metrics = JobsMetrics(app.metrics)
        self._pool: Pool | None = None
        self._watchers: dict[str, list[asyncio.Future[None]]] = {}
        self.dispatcher: Dispatcher | None = None
        self._states: dict[str, PipelineState] = {}
        self._refresher: asyncio.Task[None] | None = None
        self._started = False
        self.draining = False
        self._refusals = RateLimitedLog(self.log)
        self._check_drivers()
        for name in self.cfg.consume:
            if name not in self.cfg.pipelines:
                self.log.warning("jobs.consume: pipeline %s is not configured", name)
        from rr.jobs.rpc import register

        register(app.rpc, self)

    # -- capabilities --------------------------------------------------------------------
    @property
    def pool(self) -> Pool:
        if self._pool is None:
            raise RRError("jobs pool is not started")
        return self._pool

    async def reset(self) -> None:
        await self.pool.reset()

    def health(self) -> int:
        return 200 if self._pool is not None and self._pool.alive() else 503

    def ready(self) -> int:
        """Ready = a jobs worker is ready AND every consuming pipeline's driver is connected."""
        if self._pool is None or not self._pool.ready():
            return 503
        for name, pipe in self.pipelines.items():
            if not pipe.consuming:
                continue
            st = self._states.get(name)
            if st is not None and (not st.connected or not st.ready):
                return 503
        return 200

    def pipeline_depths(self) -> dict[str, int]:
        """Jobs waiting per pipeline (buffered in the driver or in the shared queue)."""
        depths = dict.fromkeys(self.pipelines, 0)
        for group, queued in self.queue.depths().items():
            if group in depths:
                depths[group] += queued
        for name, pipe in self.pipelines.items():
            depths[name] += int(getattr(pipe.driver, "buffered", 0) or 0)
        return depths

    async def jobs_states(self) -> list[dict[str, Any]]:
        out = []
        for st in await self.states():
            out.append({"Pipeline": st.pipeline, "Driver": st.driver, "Queue": st.queue,
                        "Active": st.active, "Delayed": st.delayed, "Reserved": st.reserved,
                        "Ready": st.ready, "Priority": st.priority,
                        "ErrorMessage": st.error})
        return out

    # -- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        sem = asyncio.Semaphore(self.cfg.parallelism)

        async def init(name: str) -> None:
            pc = self.cfg.pipelines[name]
            async with sem:
                pipe = build_pipeline(self.app, name, pc.driver, pc.options,
                                      priority=pc.priority, declared=False,
                                      timeout=self.cfg.timeout, queue=self.queue)
                self.pipelines[name] = pipe
                if name in self.cfg.consume:
                    await self._run(pipe)

        await asyncio.gather(*(init(n) for n in self.cfg.pipelines))
        for pipe in self.pipelines.values():
            if pipe.dead_letter and pipe.dead_letter not in self.pipelines:
                raise ConfigError(f"jobs.pipelines.{pipe.name}.config.dead_letter: no such "
                                  f"pipeline {pipe.dead_letter!r}")
        self._pool = self.app.make_pool("jobs", self.section.section("pool"), mode="jobs")
        await self._pool.start()
        # sized for the most workers the pool may hold (dynamic_allocator included)
        workers = getattr(self._pool, "capacity", 0) or os.cpu_count() or 1
        self.dispatcher = Dispatcher(self.queue, self._pool, self.pipelines, self.metrics,
                                     self._final)
        # RoadRunner runs num_workers + 2 pollers; one per worker is enough here because
        # a settlement never holds its poller (Dispatcher._after), and it is faster (the
        # Dispatcher.start docstring). Workers added at runtime get their poller.
        self.dispatcher.start(workers)
        self._pool.on_resize = self.dispatcher.start
        self._refresher = asyncio.get_running_loop().create_task(self._refresh_states())
        self._started = True

    def _check_drivers(self) -> None:
        """A pipeline rr cannot build is a start error (RoadRunner logs it and runs on
        without the pipeline, so its pushes fail much later)."""
        from rr.drivers import DRIVERS

        for name, pc in self.cfg.pipelines.items():
            if not pc.driver:
                raise ConfigError(f"jobs.pipelines.{name}.driver: no driver given")
            if pc.driver not in DRIVERS:
                raise ConfigError(f"jobs.pipelines.{name}.driver: unknown driver "
                                  f"{pc.driver!r} (known: {', '.join(sorted(DRIVERS))})")

    async def stop(self) -> None:
        self.draining = True
        loop = asyncio.get_running_loop()
        deadline = self.app.stop_deadline or loop.time() + self.app.grace_period()
        # what the drain leaves of the grace period: running jobs, releases and the pool
        reserve = min(5.0, max(0.5, (deadline - loop.time()) * 0.1))
        await self._drain(deadline - reserve)
        if self._refresher is not None:
            self._refresher.cancel()
        if self.dispatcher is not None:
            # running jobs get the pool's destroy_timeout (within the stop deadline); a
            # cancelled one goes back to its driver, and its wedged worker is killed by the
            # destroy below
            grace = min(self.cfg.timeout, deadline - loop.time() - 0.2)
            if self._pool is not None:
                grace = min(grace, self._pool.cfg.destroy_timeout)
            await self.dispatcher.stop(max(0.1, grace))
        # stop pulling, so that released jobs stay in their drivers
        await self._pause_all(lambda pipe: True)
        # jobs queued but never started go back to their drivers
        for d in reversed(self.queue.drain()):
            try:
                await d.release()
            except Exception as e:  # noqa: BLE001
                self.log.error("jobs: could not release job %s: %s", d.job.id, e)
        sem = asyncio.Semaphore(self.cfg.parallelism)

        async def stop_one(pipe: Pipeline) -> None:
            async with sem:
                pipe.consuming = False
                if pipe.driver is None:
                    return
                try:
                    async with asyncio.timeout(self.cfg.timeout):
                        await pipe.driver.stop()
                except Exception as e:  # noqa: BLE001
                    self.log.error("jobs: stopping pipeline %s failed: %s", pipe.name, e)

        await asyncio.gather(*(stop_one(p) for p in list(self.pipelines.values())))
        self.queue.close()
        for futs in self._watchers.values():
            for f in futs:
                if not f.done():
                    f.set_result(None)
        self._watchers.clear()
        if self._pool is not None:
            try:
                await self._pool.destroy(timeout=0)  # the dispatcher waited already
            except Exception as e:  # noqa: BLE001
                self.log.error("jobs: pool destroy failed: %s", e)

    async def _pause_all(self, which: Callable[[Pipeline], bool]) -> None:
        for pipe in list(self.pipelines.values()):
            if pipe.consuming and pipe.driver is not None and which(pipe):
                try:
                    async with asyncio.timeout(self.cfg.timeout):
                        await pipe.driver.pause()
                except Exception as e:  # noqa: BLE001
                    self.log.debug("jobs: pausing %s at shutdown: %s", pipe.name, e)
                pipe.consuming = False

    def _backlog(self, before: float) -> int:
        return sum(p.driver.backlog(before) for p in self.pipelines.values()
                   if p.consuming and p.driver is not None)

    async def _drain(self, until: float) -> None:
        """Keep the workers on the in-process backlog until it is empty or ``until``.

        Broker-backed pipelines stop pulling first: what they have not started goes back
        to the broker anyway, and their jobs must not take workers from memory jobs."""
        loop = asyncio.get_running_loop()
        if self.dispatcher is None or self._backlog(until) == 0:
            return
        await self._pause_all(lambda pipe: pipe.driver is not None
                              and pipe.driver.backlog(until) == 0)
        left = self._backlog(until)
        self.log.info("jobs: running the backlog before stopping",
                      extra={"fields": {"jobs": left,
                                        "seconds": round(max(0.0, until - loop.time()), 1)}})
        # A backlog that has not shrunk for the pool's destroy_timeout is held by wedged
        # workers: the drain ends there, so the stop below gives running jobs that same
        # timeout and kills what still hangs, instead of spending the whole grace period.
        stall = self._pool.cfg.destroy_timeout if self._pool is not None else until
        progress_at = loop.time()
        while left and loop.time() < until:
            await asyncio.sleep(0.05)
            now_left = self._backlog(until)
            if now_left < left:
                progress_at = loop.time()
            left = now_left
            if left and loop.time() - progress_at >= stall:
                self.log.warning("jobs: no job finished for %.0fs, the backlog drain ends",
                                 stall, extra={"fields": {"jobs": left}})
                break

    async def _refresh_states(self) -> None:
        """Keeps the pipeline states that the synchronous /ready check reads."""
        while True:
            for name, pipe in list(self.pipelines.items()):
                if pipe.driver is None or not pipe.consuming:
                    continue
                try:
                    async with asyncio.timeout(self.cfg.timeout):
                        self._states[name] = await pipe.driver.state()
                except Exception as e:  # noqa: BLE001
                    self._states[name] = PipelineState(pipe.name, pipe.driver_name,
                                                       error=str(e), connected=False)
            await asyncio.sleep(1.0)

    # -- completion watchers (cron overlap) ----------------------------------------------
    def watch(self, job_id: str) -> asyncio.Future[None]:
        """A future resolved when the job with this ID is finally settled (not requeued)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._watchers.setdefault(job_id, []).append(fut)
        return fut

    def _final(self, job_id: str) -> None:
        if not self._watchers:
            return
        for f in self._watchers.pop(job_id, ()):
            if not f.done():
                f.set_result(None)

    # -- operations (RPC, cron, CLI) -----------------------------------------------------
    def get(self, name: str) -> Pipeline:
        pipe = self.pipelines.get(name)
        if pipe is None or pipe.driver is None:
            raise RRError(f"no such pipeline, requested: {name}")
        return pipe

    async def push(self, job: Job, source: str = "single") -> None:
        if self.draining:
            self._refusals.warning("push", "push refused: rr is stopping",
                                   pipeline=job.pipeline, id=job.id)
            raise RRError(f"push to {job.pipeline} refused: rr is stopping")
        pipe = self.get(job.pipeline)
        assert pipe.driver is not None
        if job.priority == 0:
            job.priority = pipe.priority
        started = time.perf_counter()
        push_nowait = getattr(pipe.driver, "push_nowait", None)
        if push_nowait is not None and push_nowait(job):
            # in-process driver with room: no deadline to arm (an asyncio.timeout per job
            # costs a timer handle and two task lookups)
            self.metrics.push(pipe.name, pipe.driver_name,
                              "batch" if source == "batch" else "single", True,
                              time.perf_counter() - started)
            return
        ok = False
        try:
            async with asyncio.timeout(self.cfg.timeout):
                await pipe.driver.push(job)
            ok = True
        except TimeoutError:
            raise RRError(f"push to {pipe.name} timed out: context deadline exceeded") from None
        finally:
            self.metrics.push(pipe.name, pipe.driver_name,
                              "batch" if source == "batch" else "single", ok,
                              time.perf_counter() - started)

    async def _with_timeout(self, op: Callable[[], Awaitable[None]]) -> None:
        try:
            async with asyncio.timeout(self.cfg.timeout):
                await op()
        except TimeoutError:
            raise RRError("context deadline exceeded") from None

    async def _run(self, pipe: Pipeline) -> None:
        assert pipe.driver is not None
        await self._with_timeout(pipe.driver.run)
        pipe.consuming = True

    async def pause(self, name: str) -> None:
        pipe = self.get(name)
        assert pipe.driver is not None
        await self._with_timeout(pipe.driver.pause)
        pipe.consuming = False

    async def resume(self, name: str) -> None:
        pipe = self.get(name)
        assert pipe.driver is not None
        await self._with_timeout(pipe.driver.resume)
        pipe.consuming = True

    async def declare(self, spec: dict[str, str]) -> Pipeline:
        name = spec.get("name") or spec.get("queue") or ""
        driver = spec.get("driver", "")
        if not driver:
            raise RRError(f"no associated driver with the pipeline, pipeline name: {name}")
        if not name:
            raise RRError("pipeline name is required")
        if name in self.pipelines:
            raise RRError(f"pipeline already exists, name: {name}, driver: "
                          f"{self.pipelines[name].driver_name}")
        try:
            priority = int(spec.get("priority", "10"))
        except ValueError:
            priority = 10
        # RoadRunner v5 silently ignores an unknown driver; we report it (as v6 does).
        pipe = build_pipeline(self.app, name, driver, dict(spec), priority=priority,
                              declared=True, timeout=self.cfg.timeout, queue=self.queue)
        if pipe.dead_letter and pipe.dead_letter not in self.pipelines:
            raise RRError(f"dead-letter pipeline {pipe.dead_letter} does not exist")
        self.pipelines[name] = pipe
        if name in self.cfg.consume:
            try:
                await self._run(pipe)
            except Exception:
                del self.pipelines[name]
                raise
        return pipe

    async def destroy(self, name: str) -> None:
        pipe = self.get(name)
        assert pipe.driver is not None
        pipe.destroyed = True
        pipe.consuming = False
        del self.pipelines[name]
        self._states.pop(name, None)
        self.metrics.forget(name)
        removed = self.queue.remove_group(name)
        for d in removed:
            self.log.warning("job lost (pipeline destroyed): pipeline=%s id=%s", name,
                             d.job.id)
            self._final(d.job.id)
        await self._with_timeout(pipe.driver.destroy)

    async def states(self) -> list[PipelineState]:
        async def one(pipe: Pipeline) -> PipelineState:
            assert pipe.driver is not None
            async with asyncio.timeout(self.cfg.timeout):
                return await pipe.driver.state()

        pipes = [p for p in self.pipelines.values() if p.driver is not None]
        async with asyncio.timeout(60):
            return list(await asyncio.gather(*(one(p) for p in pipes)))
