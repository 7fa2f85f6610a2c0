"""Status endpoint rules of spec/rpc-and-cli.md §6.2 with stand-in plugins (real HTTP)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from rr.app import App
from rr.config import Config
from rr.status.plugin import StatusPlugin, create
from tests.helpers import free_port
from tests.observability.test_pool_health import get


class Checked:
    def __init__(self, name: str, health: Any = 200, ready: Any = 200) -> None:
        self.name = name
        self._health = health
        self._ready = ready

    def _answer(self, value: Any) -> Any:
        if isinstance(value, Exception):
            raise value
        return value

    def health(self) -> Any:
        return self._answer(self._health)

    async def ready(self) -> Any:  # an async check is awaited
        return self._answer(self._ready)


class Jobs:
    name = "jobs"

    def __init__(self, states: Any) -> None:
        self.states = states

    async def jobs_states(self) -> list[dict[str, Any]]:
        if isinstance(self.states, Exception):
            raise self.states
        return list(self.states)


async def started(tmp_path: Path, plugins: list[Any], **status: Any) -> tuple[App, StatusPlugin,
                                                                               str]:
    port = free_port()
    app = App(Config({"version": "3", "status": {"address": f"127.0.0.1:{port}", **status}},
                     workdir=tmp_path))
    for p in plugins:
        app.plugins[p.name] = p
    plugin = create(app)
    assert plugin is not None
    app.plugins["status"] = plugin
    await plugin.start()
    return app, plugin, f"http://127.0.0.1:{port}"


@pytest.fixture
async def cleanup() -> AsyncIterator[list[StatusPlugin]]:
    plugins: list[StatusPlugin] = []
    yield plugins
    for p in plugins:
        await p.stop()


async def test_codes_are_classified(tmp_path: Path, cleanup: list[StatusPlugin]) -> None:
    _, plugin, url = await started(tmp_path, [
        Checked("a", 200, 200), Checked("b", 302, 204), Checked("c", 404, 99)])
    cleanup.append(plugin)
    status, body = await get(url + "/health")
    assert status == 200
    assert json.loads(body) == [
        {"plugin_name": "a", "error_message": "", "status_code": 200},
        {"plugin_name": "b", "error_message": "", "status_code": 302},
        {"plugin_name": "c", "error_message": "unexpected status code", "status_code": 404}]
    status, body = await get(url + "/ready?plugin=c&plugin=b")
    assert status == 200
    assert json.loads(body) == [
        {"plugin_name": "c", "error_message": "unexpected status code", "status_code": 99},
        {"plugin_name": "b", "error_message": "", "status_code": 204}]


async def test_unavailable_status_code(tmp_path: Path, cleanup: list[StatusPlugin]) -> None:
    _, plugin, url = await started(tmp_path, [Checked("ok"), Checked("down", 500, 503)],
                                   unavailable_status_code=542)
    cleanup.append(plugin)
    for path in ("/health", "/ready", "/ready?plugin=down"):
        status, body = await get(url + path)
        assert status == 542, path
        assert {"plugin_name": "down", "error_message": "internal server error, see logs",
                "status_code": 542} in json.loads(body)
    status, body = await get(url + "/ready?plugin=ok")
    assert status == 200
    status, body = await get(url + "/jobs")
    assert (status, body) == (542, "jobs plugin not found\n")


async def test_failing_checks_are_unavailable(tmp_path: Path,
                                              cleanup: list[StatusPlugin]) -> None:
    _, plugin, url = await started(tmp_path, [
        Checked("boom", RuntimeError("broker gone"), None)])
    cleanup.append(plugin)
    status, body = await get(url + "/health?plugin=boom")
    assert status == 503
    assert json.loads(body) == [{"plugin_name": "boom", "error_message": "broker gone",
                                 "status_code": 503}]
    status, body = await get(url + "/ready")
    assert status == 503
    assert json.loads(body)[0]["plugin_name"] == "boom"


async def test_jobs_report(tmp_path: Path, cleanup: list[StatusPlugin]) -> None:
    state = {"Pipeline": "emails", "Driver": "amqp", "Queue": "q1", "Active": 3,
             "Delayed": 1, "Reserved": 0, "Ready": True, "Priority": 10, "ErrorMessage": ""}
    _, plugin, url = await started(tmp_path, [Jobs([state])])
    cleanup.append(plugin)
    status, body = await get(url + "/jobs")
    assert status == 200
    assert json.loads(body) == [{"pipeline": "emails", "priority": 10, "ready": True,
                                 "queue": "q1", "active": 3, "delayed": 1, "reserved": 0,
                                 "driver": "amqp", "error_message": ""}]


async def test_jobs_state_error(tmp_path: Path, cleanup: list[StatusPlugin]) -> None:
    _, plugin, url = await started(tmp_path, [Jobs(RuntimeError("connection is closed"))])
    cleanup.append(plugin)
    assert await get(url + "/jobs") == (503, "jobs plugin not found\n")


async def test_shutdown_answers(tmp_path: Path, cleanup: list[StatusPlugin]) -> None:
    app, plugin, url = await started(tmp_path, [Checked("a"), Jobs([])])
    cleanup.append(plugin)
    assert (await get(url + "/jobs"))[0] == 200
    app.shutting_down = True
    assert await get(url + "/health") == (200, "service is shutting down\n")
    assert await get(url + "/ready") == (503, "service is shutting down\n")
    assert await get(url + "/jobs") == (503, "service is shutting down\n")


async def test_nothing_to_check(tmp_path: Path, cleanup: list[StatusPlugin]) -> None:
    _, plugin, url = await started(tmp_path, [])
    cleanup.append(plugin)
    assert await get(url + "/health") == (200, "[]")
    assert await get(url + "/ready?plugin=http") == (200, "[]")
