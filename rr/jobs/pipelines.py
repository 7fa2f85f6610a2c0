"""The registry of live pipelines and how a pipeline's driver is built.

Drivers come from ``drivers.DRIVERS`` and are imported lazily, so a config that only uses
memory never imports a broker library.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rr.errors import RRError
from rr.jobs.retry import RetryPolicy
from rr.pipeline.driver import Delivery, Driver, PipelineOptions
from rr.pipeline.queue import PriorityQueue

if TYPE_CHECKING:
    from rr.app import App

log = logging.getLogger("jobs")


@dataclass(eq=False)
class Pipeline:
    name: str
    driver_name: str
    options: PipelineOptions
    driver: Driver | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    dead_letter: str = ""
    declared: bool = False
    #: the Declare map (re-declared on restart) or the config options
    source: dict[str, Any] = field(default_factory=dict)
    consuming: bool = False
    destroyed: bool = False

    @property
    def priority(self) -> int:
        return self.options.priority


class PipelineSink:
    """Where one pipeline's driver hands deliveries: the shared priority queue."""

    __slots__ = ("pipeline", "queue")

    def __init__(self, pipeline: Pipeline, queue: PriorityQueue[Delivery]) -> None:
        self.pipeline = pipeline
        self.queue = queue

    def _priority(self, d: Delivery) -> int:
        return d.job.priority or self.pipeline.priority

    def offer(self, d: Delivery) -> bool:
        """Non-blocking insert for in-process drivers (no task switch per job)."""
        if self.pipeline.destroyed:
            log.warning("job lost (pipeline destroyed): pipeline=%s id=%s",
                        self.pipeline.name, d.job.id)
            return True
        return self.queue.offer(d, self._priority(d), self.pipeline.name)

    async def __call__(self, d: Delivery) -> None:
        if self.pipeline.destroyed:
            log.warning("job lost (pipeline destroyed): pipeline=%s id=%s",
                        self.pipeline.name, d.job.id)
            return
        await self.queue.put(d, self._priority(d), self.pipeline.name)


def build_pipeline(app: App, name: str, driver_name: str, options: dict[str, Any], *,
                   priority: int, declared: bool, timeout: float,
                   queue: PriorityQueue[Delivery]) -> Pipeline:
    """Construct the pipeline and its driver instance (not started)."""
    from rr.drivers import DRIVERS

    factory = DRIVERS.get(driver_name)
    if factory is None:
        raise RRError(f"no constructor registered for driver: {driver_name}, pipeline: {name}")
    popts = PipelineOptions(name, driver_name, options, declared=declared,
                            global_section=app.config.section(driver_name), priority=priority,
                            timeout=timeout)
    pipe = Pipeline(name=name, driver_name=driver_name, options=popts, declared=declared,
                    source=dict(options), retry=RetryPolicy.from_options(popts),
                    dead_letter=popts.string("dead_letter"))
    try:
        driver_cls = factory.load()
    except ImportError as e:
        raise RRError(f"driver {driver_name} is not available: {e}") from e
    pipe.driver = driver_cls(popts, PipelineSink(pipe, queue))
    return pipe
