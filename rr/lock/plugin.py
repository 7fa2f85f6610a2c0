"""The ``lock`` plugin. It has no config section (RoadRunner's is always on); it is
built whenever RPC is, since RPC is its only interface. The table lives in this process
only: two rr instances never see each other's locks."""

from __future__ import annotations

from rr.app import App
from rr.lock.rpc import LockService
from rr.lock.table import LockTable


class LockPlugin:
    name = "lock"

    def __init__(self, app: App) -> None:
        self.table = LockTable()
        LockService(self.table).register(app.rpc)

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        self.table.close()


def create(app: App) -> LockPlugin | None:
    if not app.config.has("rpc"):
        return None
    return LockPlugin(app)
