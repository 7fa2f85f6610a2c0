"""The ``kv`` plugin: builds the storages of the ``kv`` section and serves ``kv.*`` RPC.

The startup rules (which entries are skipped, which are fatal, where a driver's options
come from) follow RoadRunner's table in spec/kv.md §1.
"""

from __future__ import annotations

from collections.abc import Mapping

from rr.app import App
from rr.config import Section
from rr.errors import ConfigError
from rr.kv.memcached import MemcachedStorage
from rr.kv.memory import MemoryStorage
from rr.kv.redis import RedisStorage
from rr.kv.rpc import KVService
from rr.kv.storage import Storage

DRIVERS = ("memory", "redis", "memcached")
#: drivers whose constructor insists on a config (spec/drivers-more.md §3.1)
NEEDS_CONFIG = ("memcached",)


def build_storage(name: str, driver: str, cfg: Section) -> Storage:
    if driver == "memory":
        return MemoryStorage(name)
    if driver == "redis":
        return RedisStorage(name, cfg)
    if driver == "memcached":
        return MemcachedStorage(name, cfg)
    raise ConfigError(
        f"kv.{name}.driver: no such constructor was registered: {driver}, "
        f"registered: [{' '.join(DRIVERS)}]")


class KVPlugin:
    name = "kv"

    def __init__(self, app: App) -> None:
        self.app = app
        self.log = app.logger("kv")
        self.storages: dict[str, Storage] = {}
        self._started: list[Storage] = []
        section = app.config.section("kv")
        for name in section:
            entry = section.raw(name)
            if not isinstance(entry, Mapping):
                self.log.warning("kv.%s: storage entry is not a map, skipped", name)
                continue
            if "driver" not in {str(k).lower() for k in entry}:
                raise ConfigError(
                    f"kv.{name}: could not find mandatory driver field in the {name} storage")
            driver = section.raw(f"{name}.driver")
            if not isinstance(driver, str):
                self.log.warning("kv.%s.driver: expected a string, got %r; storage skipped",
                                 name, driver)
                continue
            if section.has(f"{name}.config"):
                cfg = section.section(f"{name}.config")
            elif app.config.has(name) and isinstance(app.config.raw(name), Mapping):
                cfg = app.config.section(name)  # RoadRunner's "global" driver section
            elif driver in NEEDS_CONFIG:
                # RoadRunner hands the driver an empty key here, so its text ends in a
                # blank; the key path that is missing says more
                raise ConfigError(f"config not found by provided key: kv.{name}.config")
            else:
                self.log.warning("kv.%s: no config section for the %s driver, using defaults",
                                 name, driver)
                cfg = Section({}, f"kv.{name}.config")
            self.storages[name] = build_storage(name, driver, cfg)
        KVService(self.storages).register(app.rpc)

    async def start(self) -> None:
        for storage in self.storages.values():
            await storage.start()
            self._started.append(storage)

    async def stop(self) -> None:
        while self._started:
            storage = self._started.pop()
            try:
                await storage.stop()
            except Exception:  # noqa: BLE001 - one storage must not block the others
                self.log.exception("kv: stopping a %s storage failed", storage.driver)


def create(app: App) -> KVPlugin | None:
    if not app.config.has("kv"):
        return None
    return KVPlugin(app)
