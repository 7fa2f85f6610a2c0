"""`informer.*`: what the `rr workers` command and PHP's WorkerPool read (rpc-and-cli.md §3).

Plugins are found in ``app.plugins`` at call time through the capability protocols of
rr.plugin, so the informer knows nothing about http or jobs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rr.plugin import RemoteWorkers, WorkersInformer
from rr.rpc.registry import Registry, RPCError

if TYPE_CHECKING:
    from rr.app import App
    from rr.pool.pool import Pool


def plugin_name(arg: Any) -> str:
    """The plugin name argument: a JSON string (or raw bytes over the raw codec)."""
    if isinstance(arg, (bytes, bytearray)):
        return bytes(arg).decode("utf-8", "replace")
    if isinstance(arg, str):
        return arg
    raise RPCError(f"expected a plugin name (JSON string), got {arg!r}")


def pool_of(plugin: Any) -> Pool | None:
    """The plugin's worker pool, or None (no pool capability, or not built yet)."""
    if plugin is None:
        return None
    try:
        pool = getattr(plugin, "pool", None)
    except Exception:  # noqa: BLE001 - a pool property may raise before start
        return None
    if pool is None or not callable(getattr(pool, "workers", None)):
        return None
    return pool  # type: ignore[no-any-return]


def _worker_dict(info: Any) -> dict[str, Any]:
    if isinstance(info, dict):
        return info
    return info.to_dict()  # type: ignore[no-any-return]


class Informer:
    def __init__(self, app: App) -> None:
        self.app = app

    def names(self) -> list[str]:
        return [name for name, p in self.app.plugins.items()
                if pool_of(p) is not None or isinstance(p, (WorkersInformer, RemoteWorkers))]

    async def list_plugins(self, _arg: Any) -> list[str]:
        return self.names()

    async def workers(self, arg: Any) -> dict[str, Any]:
        # PHP's WorkerPool::getWorkers() array_maps over "workers": [] never null
        plugin = self.app.plugins.get(plugin_name(arg))
        if isinstance(plugin, RemoteWorkers):
            return {"workers": await plugin.remote_workers()}
        if isinstance(plugin, WorkersInformer):
            return {"workers": plugin.workers_states()}
        pool = pool_of(plugin)
        if pool is None:
            return {"workers": []}
        return {"workers": [_worker_dict(w) for w in pool.workers()]}

    def _managed_pool(self, name: str) -> Pool:
        pool = pool_of(self.app.plugins.get(name))
        if pool is None:
            raise RPCError(f"plugin {name} does not support workers management")
        return pool

    async def add_worker(self, arg: Any) -> bool:
        plugin = self.app.plugins.get(plugin_name(arg))
        if isinstance(plugin, RemoteWorkers):
            await plugin.add_worker()
            return False
        await self._managed_pool(plugin_name(arg)).add_worker()
        return False  # RoadRunner's reply value; meaningless

    async def remove_worker(self, arg: Any) -> bool:
        plugin = self.app.plugins.get(plugin_name(arg))
        if isinstance(plugin, RemoteWorkers):  # each process keeps its last worker
            await plugin.remove_worker()
            return False
        pool = self._managed_pool(plugin_name(arg))
        if len(pool.workers()) > 1:  # the last worker is kept, silently
            await pool.remove_worker()
        return False

    async def jobs(self, arg: Any) -> list[dict[str, Any]] | None:
        plugin = self.app.plugins.get(plugin_name(arg))
        states = getattr(plugin, "jobs_states", None)
        if plugin is None or not callable(states):
            return None
        return list(await states())

    def register(self, registry: Registry) -> None:
        registry.json("informer.List", self.list_plugins)
        registry.json("informer.Workers", self.workers)
        registry.json("informer.AddWorker", self.add_worker)
        registry.json("informer.RemoveWorker", self.remove_worker)
        registry.json("informer.Jobs", self.jobs)


def register(app: App, registry: Registry | None = None) -> Informer:
    informer = Informer(app)
    informer.register(registry or app.rpc)
    return informer
