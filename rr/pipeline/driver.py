"""The driver contract every broker implements (dramatiq's Broker / MessageProxy split).

A ``Driver`` adapts one broker to one pipeline: it publishes jobs, and while consuming it
hands ``Delivery`` objects to the core's sink. A ``Delivery`` is the received message:
the core decides (from the worker's reply and its retry policy) whether to ack, nack or
requeue it, and the delivery tells the broker. Drivers never touch workers, and the core
never imports a broker library.
"""

from __future__ import annotations

import abc
import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rr.config import Section
from rr.errors import ConfigError
from rr.pipeline.job import Headers, Job


@dataclass(slots=True)
class PipelineState:
    """What jobs.Stat / informer.Jobs / status /jobs report for one pipeline."""

    pipeline: str
    driver: str
    queue: str = ""
    active: int = 0
    delayed: int = 0
    reserved: int = 0
    ready: bool = False
    priority: int = 10
    error: str = ""
    # honest readiness (status /ready): connected to the broker and, if consuming, its
    # consumer is alive
    connected: bool = True


class PipelineOptions:
    """A pipeline's options from either origin (spec/drivers.md §0.1).

    Config-file pipelines carry native YAML types under ``config``; Declare pipelines carry
    a flat string->string map (bools only as exact "true"/"false", nested values as JSON
    text). The getters accept both, so drivers read options one way.
    """

    def __init__(self, name: str, driver: str, options: Mapping[str, Any], *,
                 declared: bool = False, global_section: Section | None = None,
                 priority: int = 10, timeout: float = 60.0) -> None:
        self.name = name
        # jobs.timeout: the deadline of one push / pause / resume / stop (seconds)
        self.timeout = timeout
        self.driver = driver
        self.declared = declared
        self.priority = priority
        self.options = {str(k).lower(): v for k, v in options.items()}
        # top-level connection section named after the driver (amqp:, kafka:, sqs:, redis:)
        self.global_section = global_section or Section({}, driver)
        self._path = f"jobs.pipelines.{name}.config"

    def _where(self, key: str) -> str:
        return f"{self._path}.{key}"

    def has(self, key: str) -> bool:
        return self.options.get(key.lower()) is not None

    def get(self, key: str, default: Any = None) -> Any:
        v = self.options.get(key.lower())
        return default if v is None else v

    def string(self, key: str, default: str = "") -> str:
        v = self.get(key)
        return default if v is None else str(v)

    def integer(self, key: str, default: int = 0) -> int:
        v = self.get(key)
        if v is None or v == "":
            return default
        if isinstance(v, bool):
            return int(v)
        try:
            return int(v)
        except (TypeError, ValueError):
            raise ConfigError(f"{self._where(key)}: expected an integer, got {v!r}") from None

    def number(self, key: str, default: float = 0.0) -> float:
        v = self.get(key)
        if v is None or v == "":
            return default
        try:
            return float(v)
        except (TypeError, ValueError):
            raise ConfigError(f"{self._where(key)}: expected a number, got {v!r}") from None

    def boolean(self, key: str, default: bool = False) -> bool:
        v = self.get(key)
        if v is None:
            return default
        if isinstance(v, bool):
            return v
        if self.declared:
            return v == "true"  # RoadRunner: any other string reads as false
        s = str(v).strip().lower()
        if s in ("true", "1", "yes", "on"):
            return True
        if s in ("false", "0", "no", "off", ""):
            return False
        raise ConfigError(f"{self._where(key)}: expected a boolean, got {v!r}")

    def duration(self, key: str, default: float = 0.0) -> float:
        from rr.durations import parse_duration

        v = self.get(key)
        if v is None or v == "":
            return default
        return parse_duration(v, self._where(key))

    def mapping(self, key: str) -> dict[str, Any]:
        """A nested object: native mapping, or JSON text (Declare)."""
        v = self.get(key)
        if v is None or v == "":
            return {}
        if isinstance(v, Mapping):
            return dict(v)
        if isinstance(v, str):
            try:
                parsed = json.loads(v)
            except ValueError:
                raise ConfigError(f"{self._where(key)}: expected a JSON object, got {v!r}") \
                    from None
            if parsed in ([], None):
                return {}
            if isinstance(parsed, dict):
                return parsed
        raise ConfigError(f"{self._where(key)}: expected an object, got {v!r}")

    def string_list(self, key: str) -> list[str]:
        v = self.get(key)
        if v is None or v == "":
            return []
        if isinstance(v, list):
            return [str(x) for x in v]
        if isinstance(v, str):
            if v.startswith("["):
                try:
                    return [str(x) for x in json.loads(v)]
                except ValueError:
                    pass
            return [p for p in v.split(",") if p]
        raise ConfigError(f"{self._where(key)}: expected a list, got {v!r}")


class Delivery(abc.ABC):
    """One received job and the handle to settle it on the broker (MessageProxy).

    Exactly one of ack / nack / requeue is called per delivery. All must be safe to call
    after the driver stopped (they then raise an error that the core only logs).
    """

    job: Job

    @abc.abstractmethod
    def context(self) -> bytes:
        """Context JSON for the worker, with the driver's own keys (queue, partition, ...)."""

    @abc.abstractmethod
    async def ack(self) -> None:
        """The job is done: remove it from the broker."""

    @abc.abstractmethod
    async def nack(self, requeue: bool | None = None, delay: int = 0) -> None:
        """Failure. requeue None = the driver's plain Nack (its default failure handling);
        True = redeliver (after ``delay`` seconds where supported); False = discard."""

    @abc.abstractmethod
    async def requeue(self, headers: Headers | None, delay: int) -> None:
        """Publish a copy with merged headers and the new delay, then remove the original."""

    async def release(self) -> None:
        """Give back a delivery no worker has started (graceful shutdown).

        Default: nothing, the message stays un-acked and the broker redelivers it once the
        consumer goes away. In-process drivers put it back into their buffer instead."""
        return None


async def join_tasks(tasks: list[asyncio.Task[None]], timeout: float | None = None) -> None:
    """Wait for a driver's loops to end (they watch a flag the caller just cleared);
    cancel those still running after ``timeout`` so pause/stop stay bounded."""
    running = [t for t in tasks if not t.done()]
    if not running:
        return
    _, pending = await asyncio.wait(running, timeout=timeout)
    for t in pending:
        t.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)


Sink = Callable[[Delivery], Awaitable[None]]
"""Where a consuming driver hands deliveries; awaiting it applies back-pressure."""


class Driver(abc.ABC):
    """One broker-backed pipeline."""

    #: driver name as in the config (``memory``, ``amqp``, ...)
    kind: str = ""

    def __init__(self, options: PipelineOptions, sink: Sink) -> None:
        self.options = options
        self.sink = sink

    @property
    def pipeline(self) -> str:
        return self.options.name

    @abc.abstractmethod
    async def push(self, job: Job) -> None:
        """Publish; return only when the broker has the job (publisher confirms etc.)."""

    def push_nowait(self, job: Job) -> bool:
        """Optional fast path for in-process drivers: publish without awaiting when that
        cannot block. False (the default) means "use ``push``"."""
        return False

    def backlog(self, before: float) -> int:
        """Jobs that a graceful stop should keep running for (loop time ``before`` is the
        end of the grace period). 0, the default, fits a broker-backed driver: what it has
        not started goes back to the broker. An in-process driver counts its jobs here,
        since stopping would lose them."""
        return 0

    @abc.abstractmethod
    async def run(self) -> None:
        """Start consuming (deliveries go to ``self.sink``). Error if already consuming."""

    @abc.abstractmethod
    async def pause(self) -> None:
        """Stop pulling new jobs. Error ``no active listeners, nothing to pause`` if idle."""

    @abc.abstractmethod
    async def resume(self) -> None:
        """Start pulling again. Error ``<kind> listener is already in the active state``."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Stop consuming, give prefetched-but-unstarted jobs back, close connections."""

    @abc.abstractmethod
    async def state(self) -> PipelineState:
        """Current counters and readiness."""

    async def destroy(self) -> None:
        """Stop and remove broker-side resources the pipeline owns (default: stop)."""
        await self.stop()


@dataclass
class DriverFactory:
    """Lazy constructor so that the core imports a broker library only when used."""

    module: str
    cls: str
    extra: dict[str, Any] = field(default_factory=dict)

    def load(self) -> type[Driver]:
        import importlib

        mod = importlib.import_module(self.module)
        driver_cls: type[Driver] = getattr(mod, self.cls)
        return driver_cls
