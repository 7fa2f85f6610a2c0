"""In-process fixtures: an App with real php worker pools behind stand-in plugins, and
the metrics/status plugins listening on free ports (queried over real HTTP)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rr.app import App
from rr.config import Config
from rr.pool.pool import Pool
from tests.helpers import free_port, php_worker


class PoolPlugin:
    """What the http plugin offers to status/metrics: a pool and the checks of §6.2."""

    def __init__(self, name: str, pool: Pool) -> None:
        self.name = name
        self.pool = pool

    def health(self) -> int:
        return 200 if self.pool.alive() else 503

    def ready(self) -> int:
        return 200 if self.pool.ready() else 503


@dataclass
class Stack:
    app: App
    pool: Pool
    marker: Path
    metrics_url: str
    status_url: str
    rpc_address: str
    plugins: list[Any]


@pytest.fixture
async def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Stack]:
    from rr.metrics.plugin import create as create_metrics
    from rr.rpc.plugin import create as create_rpc
    from rr.status.plugin import create as create_status

    marker = tmp_path / "no-more-workers"
    monkeypatch.setenv("OBS_MARKER", str(marker))
    metrics_port, status_port, rpc_port = free_port(), free_port(), free_port()
    config = Config({
        "version": "3",
        "server": {"command": php_worker("obs_worker.php")},
        "http": {"pool": {"num_workers": 2, "allocate_timeout": "5s"}},
        "rpc": {"listen": f"tcp://127.0.0.1:{rpc_port}"},
        "metrics": {"address": f"127.0.0.1:{metrics_port}"},
        "status": {"address": f"127.0.0.1:{status_port}"},
    }, workdir=tmp_path)
    app = App(config)
    pool = app.make_pool("http", config.section("http.pool"), mode="http")
    plugins: list[Any] = [create_rpc(app), create_metrics(app), create_status(app)]
    app.plugins["http"] = PoolPlugin("http", pool)
    for p in plugins:
        app.plugins[p.name] = p
    await pool.start()
    for p in plugins:
        await p.start()
    try:
        yield Stack(app, pool, marker, f"http://127.0.0.1:{metrics_port}",
                    f"http://127.0.0.1:{status_port}", f"tcp://127.0.0.1:{rpc_port}",
                    plugins)
    finally:
        for p in reversed(plugins):
            await p.stop()
        marker.unlink(missing_ok=True)
        await pool.destroy()
