"""/health, /ready and the worker gauges against a real php pool, including the pool
losing its last worker (respawn made impossible) and getting workers back."""

from __future__ import annotations

import asyncio
import json
import os
import signal

import aiohttp
import pytest

from rr.pool.payload import Payload
from tests.observability.conftest import Stack

pytestmark = pytest.mark.php


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        return r.status, await r.text()


async def until(pred, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not await pred():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.1)


def gauge(text: str, name: str) -> dict[str, float]:
    """series (labels part) -> value for one family of an exposition."""
    out = {}
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            series, _, value = line.rpartition(" ")
            out[series[len(name):]] = float(value)
    return out


async def test_healthy_pool(stack: Stack) -> None:
    assert (await stack.pool.exec(Payload(b"ctx", b"body"))).body == b"body"
    for path in ("/health", "/ready", "/health?plugin=http", "/ready?plugin=http"):
        status, body = await get(stack.status_url + path)
        assert status == 200, path
        assert json.loads(body) == [{"plugin_name": "http", "error_message": "",
                                     "status_code": 200}]
    # unknown plugins and plugins without the check are skipped
    status, body = await get(stack.status_url + "/ready?plugin=nope&plugin=metrics")
    assert (status, json.loads(body)) == (200, [])
    status, body = await get(stack.status_url + "/jobs")
    assert (status, body) == (503, "jobs plugin not found\n")


async def test_worker_gauges_agree_with_the_pool(stack: Stack) -> None:
    status, text = await get(stack.metrics_url + "/any/path")
    assert status == 200
    workers = [w.to_dict() for w in stack.pool.workers()]
    assert gauge(text, "rr_http_total_workers") == {"": 2.0}
    states = gauge(text, "rr_http_worker_state")
    assert set(states) == {f'{{pid="{w["pid"]}",state="{w["statusStr"]}"}}' for w in workers}
    memory = gauge(text, "rr_http_worker_memory_bytes")
    assert set(memory) == {f'{{pid="{w["pid"]}"}}' for w in workers}
    assert all(v > 0 for v in memory.values())
    assert gauge(text, "rr_http_workers_memory_bytes")[""] == sum(memory.values())
    assert gauge(text, "rr_http_workers_ready") == {"": 2.0}
    assert gauge(text, "rr_http_workers_invalid") == {"": 0.0}
    assert "rr_jobs_total_workers" not in text  # no jobs plugin, no jobs gauges


async def test_ready_flips_when_the_last_worker_is_gone_and_back(stack: Stack) -> None:
    stack.marker.write_text("stop")
    for w in stack.pool.workers():
        os.kill(w.to_dict()["pid"], signal.SIGKILL)

    async def not_ready() -> bool:
        status, _ = await get(stack.status_url + "/ready?plugin=http")
        return status == 503

    await until(not_ready)
    status, body = await get(stack.status_url + "/ready?plugin=http")
    assert json.loads(body) == [{"plugin_name": "http",
                                 "error_message": "internal server error, see logs",
                                 "status_code": 503}]
    status, _ = await get(stack.status_url + "/health")
    assert status == 503
    _, text = await get(stack.metrics_url + "/metrics")
    assert gauge(text, "rr_http_workers_ready") == {"": 0.0}

    stack.marker.unlink()

    async def ready_again() -> bool:
        status, _ = await get(stack.status_url + "/ready?plugin=http")
        return status == 200

    await until(ready_again, 60)
    assert (await stack.pool.exec(Payload(b"", b"again"))).body == b"again"
