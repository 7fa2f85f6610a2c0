"""informer.* and resetter.* against fake in-process plugins (rpc-and-cli.md §3-4)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rr.app import App
from rr.config import Config
from rr.goridge.frame import CODEC_JSON, CODEC_RAW
from rr.pool.errors import PoolError
from rr.rpc import plugin as rpc_plugin
from rr.rpc.registry import RPCError

WORKER = {"pid": 41827, "status": 1, "numExecs": 12, "created": 1736935200123456789,
          "memoryUsage": 31457280, "CPUPercent": 0.42, "command": "", "statusStr": "ready"}


class FakeInfo:
    def __init__(self, pid: int) -> None:
        self.pid = pid

    def to_dict(self) -> dict[str, Any]:
        return {**WORKER, "pid": self.pid}


class FakePool:
    def __init__(self, pids: list[int], full: bool = False) -> None:
        self.pids = list(pids)
        self.full = full
        self.resets = 0

    def workers(self) -> list[FakeInfo]:
        return [FakeInfo(p) for p in self.pids]

    async def add_worker(self) -> None:
        if self.full:
            raise PoolError("container is full, maximum number of workers reached")
        self.pids.append(max(self.pids, default=0) + 1)

    async def remove_worker(self) -> None:
        self.pids.pop()

    async def reset(self) -> None:
        self.resets += 1


class PoolPlugin:
    def __init__(self, name: str, pool: FakePool) -> None:
        self.name = name
        self._pool = pool

    @property
    def pool(self) -> FakePool:
        return self._pool

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class ResettablePlugin(PoolPlugin):
    def __init__(self, name: str, pool: FakePool, fail: bool = False) -> None:
        super().__init__(name, pool)
        self.fail = fail
        self.reset_calls = 0

    async def reset(self) -> None:
        self.reset_calls += 1
        if self.fail:
            raise PoolError("reset failed: workers did not stop")


class NotStartedPlugin:
    name = "lazy"

    @property
    def pool(self) -> FakePool:
        raise RuntimeError("pool is not started")


class JobsPlugin(ResettablePlugin):
    async def jobs_states(self) -> list[dict[str, Any]]:
        return [{"Pipeline": "p1", "Driver": "memory", "Queue": "q", "Active": 1, "Delayed": 0,
                 "Reserved": 0, "Ready": True, "Priority": 10, "ErrorMessage": ""}]


class PlainPlugin:
    name = "kv"


@pytest.fixture()
def app() -> App:
    app = App(Config({"version": "3", "rpc": {"listen": "tcp://127.0.0.1:1"}}))
    assert rpc_plugin.create(app) is not None
    app.plugins.update({
        "rpc": object(),  # type: ignore[dict-item]
        "kv": PlainPlugin(),  # type: ignore[dict-item]
        "http": ResettablePlugin("http", FakePool([30, 10, 20])),  # type: ignore[dict-item]
        "jobs": JobsPlugin("jobs", FakePool([])),  # type: ignore[dict-item]
        "pooled": PoolPlugin("pooled", FakePool([5])),  # type: ignore[dict-item]
        "lazy": NotStartedPlugin(),  # type: ignore[dict-item]
    })
    return app


async def call(app: App, method: str, arg: Any, codec: int = CODEC_JSON) -> Any:
    handler = app.rpc.get(method)
    assert handler is not None, method
    body = arg if codec == CODEC_RAW else json.dumps(arg).encode()
    reply = await handler(body, codec)
    return reply if codec == CODEC_RAW else json.loads(reply)


async def test_informer_list(app: App) -> None:
    assert await call(app, "informer.List", True) == ["http", "jobs", "pooled"]


async def test_informer_workers(app: App) -> None:
    reply = await call(app, "informer.Workers", "http")
    assert [w["pid"] for w in reply["workers"]] == [30, 10, 20]
    assert set(reply["workers"][0]) == set(WORKER)


@pytest.mark.parametrize("name", ["nope", "kv", "lazy", "jobs"])
async def test_informer_workers_never_null(app: App, name: str) -> None:
    assert await call(app, "informer.Workers", name) == {"workers": []}


async def test_informer_workers_raw_codec(app: App) -> None:
    # the argument arrives as bytes; a non-bytes reply cannot go out over the raw codec
    with pytest.raises(RPCError, match="unknown Raw payload type"):
        await call(app, "informer.Workers", b"pooled", CODEC_RAW)


async def test_informer_bad_argument(app: App) -> None:
    with pytest.raises(RPCError, match="expected a plugin name"):
        await call(app, "informer.Workers", {"plugin": "http"})


async def test_add_remove_worker(app: App) -> None:
    pool = app.plugins["pooled"].pool  # type: ignore[attr-defined]
    assert await call(app, "informer.AddWorker", "pooled") is False
    assert pool.pids == [5, 6]
    assert await call(app, "informer.RemoveWorker", "pooled") is False
    assert pool.pids == [5]
    # the last worker stays, silently
    assert await call(app, "informer.RemoveWorker", "pooled") is False
    assert pool.pids == [5]


@pytest.mark.parametrize("method", ["informer.AddWorker", "informer.RemoveWorker"])
@pytest.mark.parametrize("name", ["kv", "nope", "lazy"])
async def test_workers_management_unsupported(app: App, method: str, name: str) -> None:
    with pytest.raises(RPCError, match=f"plugin {name} does not support workers management"):
        await call(app, method, name)


async def test_add_worker_pool_error(app: App) -> None:
    app.plugins["pooled"].pool.full = True  # type: ignore[attr-defined]
    with pytest.raises(PoolError, match="container is full"):
        await call(app, "informer.AddWorker", "pooled")


async def test_informer_jobs(app: App) -> None:
    states = await call(app, "informer.Jobs", "jobs")
    assert states[0]["Pipeline"] == "p1" and states[0]["Ready"] is True
    assert await call(app, "informer.Jobs", "http") is None
    assert await call(app, "informer.Jobs", "nope") is None


async def test_resetter_list(app: App) -> None:
    assert await call(app, "resetter.List", True) == ["http", "jobs", "pooled"]


async def test_resetter_reset(app: App) -> None:
    assert await call(app, "resetter.Reset", "http") is True
    assert app.plugins["http"].reset_calls == 1  # type: ignore[attr-defined]
    assert await call(app, "resetter.Reset", "pooled") is True
    assert app.plugins["pooled"].pool.resets == 1  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["nope", "kv", "lazy"])
async def test_resetter_unknown(app: App, name: str) -> None:
    with pytest.raises(RPCError) as e:
        await call(app, "resetter.Reset", name)
    assert str(e.value).endswith(f"no such plugin: {name}")


async def test_resetter_failure_is_the_pool_error(app: App) -> None:
    app.plugins["http"].fail = True  # type: ignore[attr-defined]
    with pytest.raises(PoolError, match="reset failed"):
        await call(app, "resetter.Reset", "http")
