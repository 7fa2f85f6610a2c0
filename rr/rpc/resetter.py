"""`resetter.*`: rolling restarts of plugin worker pools (rpc-and-cli.md §4).

A plugin is resettable when it has ``async reset()`` (rr.plugin.Resettable); a plugin that
only exposes a pool is reset by resetting that pool.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rr.rpc.informer import plugin_name, pool_of
from rr.rpc.registry import Registry, RPCError

if TYPE_CHECKING:
    from rr.app import App


class Resetter:
    def __init__(self, app: App) -> None:
        self.app = app

    @staticmethod
    def _resettable(plugin: Any) -> bool:
        return callable(getattr(plugin, "reset", None)) or pool_of(plugin) is not None

    def names(self) -> list[str]:
        return [name for name, p in self.app.plugins.items() if self._resettable(p)]

    async def list_plugins(self, _arg: Any) -> list[str]:
        return self.names()

    async def reset(self, arg: Any) -> bool:
        name = plugin_name(arg)
        plugin = self.app.plugins.get(name)
        if plugin is None or not self._resettable(plugin):
            raise RPCError(f"resetter_plugin_reset_by_name: no such plugin: {name}")
        reset = getattr(plugin, "reset", None)
        if callable(reset):
            await reset()
            return True
        pool = pool_of(plugin)
        assert pool is not None
        await pool.reset()  # the pool logs the reset itself
        return True

    def register(self, registry: Registry) -> None:
        registry.json("resetter.List", self.list_plugins)
        registry.json("resetter.Reset", self.reset)


def register(app: App, registry: Registry | None = None) -> Resetter:
    resetter = Resetter(app)
    resetter.register(registry or app.rpc)
    return resetter
