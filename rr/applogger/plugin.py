"""The app logger plugin (name and log channel ``app``). No config section of its own:
its lines follow ``logs`` and ``logs.channels.app``. Built whenever RPC is, since RPC is
its only interface."""

from __future__ import annotations

from rr.app import App
from rr.applogger.rpc import AppLogger


class AppLoggerPlugin:
    name = "app"

    def __init__(self, app: App) -> None:
        AppLogger(app.logger("app")).register(app.rpc)

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass


def create(app: App) -> AppLoggerPlugin | None:
    if not app.config.has("rpc"):
        return None
    return AppLoggerPlugin(app)
