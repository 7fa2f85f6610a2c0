"""The pool under apps written the SDK way (tests/php/sdk_app.php) behind `rr serve`:
idle workers, stray frames, worker stop(), crash storms, env lists."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from pathlib import Path

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


@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_socket_relay_serves_http_and_jobs(kind: str, serve: object, tmp_path: Path) -> None:
    sock = tmp_path / "relay.sock"
    relay = f"tcp://127.0.0.1:{free_port()}" if kind == "tcp" else f"unix://{sock}"
    log = tmp_path / "jobs.jsonl"
    log.touch()
    s = serve(workers=2, server=f"""\
  relay: "{relay}"
  env:
    JOBS_LOG: {log}
""", top=f"""\
jobs:
  pool:
    num_workers: 1
    command: "php {PHP_FIXTURES / 'jobs_consumer.php'}"
  consume: [p]
  pipelines:
    p:
      driver: memory
      config: {{priority: 1}}
""")  # type: ignore[operator]
    assert [s.get(f"/id?i={i}") for i in range(10)] == [(200, f"id:{i}") for i in range(10)]
    from rr.goridge.rpc import RPCClient
    from rr.jobs.proto import jobs_pb2 as pb

    with RPCClient(s.rpc) as c:
        c.call_proto("jobs.Push", pb.PushRequest(job=pb.Job(
            job="t", id="j1", payload=b"ack", options=pb.Options(pipeline="p"))))
    wait_for(lambda: '"id":"j1"' in log.read_text(), 20, what="the job consumed")
    if kind == "unix":
        assert sock.exists()
    assert s.rr.stop() == 0
    assert not sock.exists()
