"""What the server needs from a plugin, and what a plugin may offer to others.

A plugin is built from the config by a factory ``create(app) -> Plugin | None``
(None = section absent / plugin disabled). Optional capabilities are plain methods
found by duck typing so that informer, resetter and status stay decoupled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from rr.pool.pool import Pool


@runtime_checkable
class Plugin(Protocol):
    name: str

    async def start(self) -> None:
        """Start serving; raise to abort the server start."""

    async def stop(self) -> None:
        """Stop gracefully (drain within the plugin's own deadline)."""


@runtime_checkable
class HasPool(Protocol):
    """Plugins with a worker pool: informer.Workers/AddWorker/RemoveWorker, resetter."""

    name: str

    @property
    def pool(self) -> Pool: ...


@runtime_checkable
class WorkersInformer(Protocol):
    """informer.Workers for plugins whose processes are not a pool (the service plugin):
    worker-state dicts with RoadRunner's keys. Such a plugin offers no Add/RemoveWorker."""

    name: str

    def workers_states(self) -> list[dict[str, Any]]: ...


@runtime_checkable
class Resettable(Protocol):
    name: str

    async def reset(self) -> None: ...


@runtime_checkable
class HealthChecker(Protocol):
    """status plugin: /health. Returns an HTTP-like status code (200 ok, 503 not)."""

    name: str

    def health(self) -> int: ...


@runtime_checkable
class ReadinessChecker(Protocol):
    """status plugin: /ready. Returns an HTTP-like status code (200 ready, 503 not)."""

    name: str

    def ready(self) -> int: ...


@runtime_checkable
class JobsInformer(Protocol):
    """informer.Jobs: pipeline states as dicts with RoadRunner's Go field names."""

    name: str

    async def jobs_states(self) -> list[dict[str, Any]]: ...


@runtime_checkable
class RemoteWorkers(Protocol):
    """A plugin whose workers live in other processes (``http.processes`` > 1): informer
    asks it at call time, and ``/metrics`` reads the snapshot ``before_scrape`` took just
    before the scrape renders (collectors cannot await)."""

    name: str

    async def remote_workers(self) -> list[dict[str, Any]]: ...

    async def add_worker(self) -> None: ...

    async def remove_worker(self) -> None: ...

    async def before_scrape(self) -> None: ...

    def scraped_workers(self) -> list[dict[str, Any]]: ...
