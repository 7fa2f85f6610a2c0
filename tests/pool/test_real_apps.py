"""The pool under apps written the SDK way (tests/php/sdk_app.php) behind `rr serve`:
idle workers, stray frames, worker stop(), crash storms, env lists."""

from __future__ import annotations

import asyncio
import http.client
import random
import re
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.helpers import PHP_FIXTURES, RRProcess, free_port, rpc, wait_for

pytestmark = pytest.mark.php
APP = PHP_FIXTURES / "sdk_app.php"


class Served:
    def __init__(self, rr: RRProcess, port: int, rpc_port: int) -> None:
        self.rr = rr
        self.port = port
        self.rpc = f"tcp://127.0.0.1:{rpc_port}"

    def get(self, path: str, timeout: float = 30.0) -> tuple[int, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            return resp.status, resp.read().decode()
        finally:
            conn.close()

    def pids(self) -> list[int]:
        return sorted(w["pid"] for w in rpc(self.rpc, "informer.Workers", "http")["workers"])


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[object]:
    started: list[RRProcess] = []

    def start(workers: int = 2, command: str = f"php {APP}", server: str = "",
              pool: str = "", top: str = "") -> Served:
        port, rpc_port = free_port(), free_port()
        cfg = f"""
version: "3"
rpc:
  listen: tcp://127.0.0.1:{rpc_port}
server:
  command: "{command}"
{server}
http:
  address: 127.0.0.1:{port}
  pool:
    num_workers: {workers}
    allocate_timeout: 30s
{pool}
{top}
"""
        rr = RRProcess(cfg, tmp_path).start()
        started.append(rr)
        return Served(rr, port, rpc_port)

    yield start
    for rr in started:
        try:
            rr.stop()
        finally:
            rr.kill()


def test_server_env_as_a_list_of_maps(serve: object) -> None:
    """The .rr.yaml of baldinof/roadrunner-bundle: `env: [{APP_RUNTIME: …}]`."""
    s = serve(workers=1, server="""\
  env:
    - APP_RUNTIME: Baldinof\\RoadRunnerBundle\\Runtime\\Runtime
    - app_env: prod
      DEBUG: 0
""")  # type: ignore[operator]
    assert s.get("/env?name=APP_RUNTIME") == (200, "Baldinof\\RoadRunnerBundle\\Runtime\\Runtime")
    assert s.get("/env?name=APP_ENV") == (200, "prod")
    assert s.get("/env?name=DEBUG") == (200, "0")
