"""The `rpc` plugin: the goridge RPC listener plus the built-in `rpc`, `informer` and
`resetter` services (rpc-and-cli.md §1-4).

Enabled only when the config has an `rpc` key; without it PHP's RPC clients and the
`rr reset`/`rr workers` commands have nothing to talk to.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

from rr.goridge.frame import CODEC_JSON, CODEC_RAW
from rr.rpc import informer, resetter
from rr.rpc.registry import RPCError
from rr.rpc.server import Listen, RPCLimits, RPCServer, parse_listen

if TYPE_CHECKING:
    from rr.app import App

DEFAULT_LISTEN = "tcp://127.0.0.1:6001"


class RPCPlugin:
    name = "rpc"

    def __init__(self, app: App, listen: Listen) -> None:
        self.app = app
        self.log = app.logger("rpc")
        self.server = RPCServer(app.rpc, listen, self.log,
                                RPCLimits.from_config(app.config.section("rpc")))

    @property
    def address(self) -> str:
        return self.server.address

    async def start(self) -> None:
        await self.server.start()
        self.log.debug("plugin was started", extra={"fields": {
            "address": self.server.address,
            "list of the plugins with RPC methods:": sorted(self.app.rpc.services())}})

    async def stop(self) -> None:
        await self.server.stop()

    # built-in `rpc` service --------------------------------------------------------
    async def version(self, _arg: Any) -> str:
        return self.app.version

    async def config(self, _arg: bytes, codec: int) -> bytes:
        """The effective config as JSON bytes; a Go []byte over JSON is a base64 string."""
        data = json.dumps(self.app.config.to_dict(), separators=(",", ":"),
                          default=str).encode()
        if codec == CODEC_JSON:
            return json.dumps(base64.b64encode(data).decode()).encode()
        if codec == CODEC_RAW:
            return data
        raise RPCError(f"rpc.Config: codec {codec:#x} is not supported, use JSON or raw")


def create(app: App) -> RPCPlugin | None:
    if not app.config.has("rpc"):
        return None
    listen = app.config.string("rpc.listen", DEFAULT_LISTEN) or DEFAULT_LISTEN
    plugin = RPCPlugin(app, parse_listen(listen))
    app.rpc.json("rpc.Version", plugin.version)
    app.rpc.register("rpc.Config", plugin.config)
    informer.register(app)
    resetter.register(app)
    return plugin
