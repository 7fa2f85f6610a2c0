"""The pool under apps written the SDK way (tests/php/sdk_app.php) behind `rr serve`:
idle workers, stray frames, worker stop(), crash storms, env lists."""

from __future__ import annotations

import asyncio
import http.client
import random
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


Result = tuple[int, int, str, float]  # request id, status, body, seconds


async def _hammer(port: int, plan: list[str], concurrency: int) -> list[Result]:
    """GET every path of ``plan`` (index = request id) from ``concurrency`` looping
    clients; (id, status, body, seconds) per request."""
    out: list[Result] = []
    todo = iter(enumerate(plan))
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout,
                                     connector=aiohttp.TCPConnector(limit=concurrency)) as cs:
        async def client() -> None:
            for i, path in todo:
                t0 = time.monotonic()
                sep = "&" if "?" in path else "?"
                async with cs.get(f"http://127.0.0.1:{port}{path}{sep}i={i}") as r:
                    out.append((i, r.status, await r.text(), time.monotonic() - t0))

        await asyncio.gather(*(client() for _ in range(concurrency)))
    return out


def _check_own_answers(plan: list[str], results: list[Result],
                       failing: dict[str, int]) -> None:
    assert len(results) == len(plan)
    foreign = [(i, b) for i, _, b, _ in results if b != f"id:{i}"]
    wrong = [(i, plan[i], st) for i, st, _, _ in results
             if st != failing.get(plan[i].split("?")[0], 200)]
    assert not foreign, f"{len(foreign)} answers that belong to another request: {foreign[:5]}"
    assert not wrong, f"{len(wrong)} requests with the wrong status: {wrong[:5]}"


def test_respond_then_error_never_reaches_another_request(serve: object) -> None:
    """The SDK README catch block (respond 500, then error()) sends two frames for one
    request: 10 000 requests at 24-way concurrency, one in four failing that way."""
    s = serve(workers=4, top="logs:\n  level: error\n")  # type: ignore[operator]
    rnd = random.Random(10)
    plan = ["/rte" if rnd.random() < 0.25 else "/id" for _ in range(10_000)]
    results = asyncio.run(_hammer(s.port, plan, 24))
    _check_own_answers(plan, results, {"/rte": 500})
    assert len(s.pids()) == 4


def test_error_then_respond_and_stop_after_response(serve: object) -> None:
    """The other orders: error() then a response, and stop() right after a response."""
    s = serve(workers=3, top="logs:\n  level: error\n")  # type: ignore[operator]
    rnd = random.Random(11)
    plan = [rnd.choice(["/etr", "/rte", "/stop"]) if rnd.random() < 0.3 else "/id"
            for _ in range(2_000)]
    results = asyncio.run(_hammer(s.port, plan, 24))
    # /etr answers with its own error (500) or its own late 500 response: never another's
    _check_own_answers(plan, results, {"/rte": 500, "/etr": 500})


def test_stop_after_response_never_fails_the_next_request(serve: object) -> None:
    """A worker that answers, calls stop() and exits while the next request was already
    written to it: that request runs elsewhere, the client never sees the stop."""
    s = serve(workers=2)  # type: ignore[operator]
    plan = ["/stop" if i % 4 == 3 else "/id" for i in range(120)]
    results = asyncio.run(_hammer(s.port, plan, 3))
    _check_own_answers(plan, results, {})
    wait_for(lambda: len(s.pids()) == 2, 20, what="two workers")


def test_crashing_requests_do_not_starve_innocent_ones(serve: object) -> None:
    """10 requests in 100 kill their worker (exit(1)): each is replaced at once; the
    others are served without waiting for a back-off."""
    s = serve(workers=4)  # type: ignore[operator]
    plan = ["/crash" if i % 10 == 5 else "/id" for i in range(100)]
    results = asyncio.run(_hammer(s.port, plan, 8))
    innocent = [r for r in results if plan[r[0]] != "/crash"]
    assert len(results) == 100
    bad = [(i, st, b) for i, st, b, _ in innocent if (st, b) != (200, f"id:{i}")]
    assert not bad, bad[:5]
    assert all(st == 500 for i, st, _, _ in results if plan[i] == "/crash")
    slowest = max(d for i, _, _, d in results if plan[i] != "/crash")
    # before: a pool-wide back-off doubling to 30 s made innocent requests wait ~19 s
    assert slowest < 8, slowest
    t0 = time.monotonic()
    wait_for(lambda: len(s.pids()) == 4, 20, what="four workers")
    assert time.monotonic() - t0 < 8


def test_wedged_jobs_worker_does_not_hold_up_shutdown(tmp_path: Path) -> None:
    """A job whose worker never answers: on SIGTERM the pool is destroyed after its
    destroy_timeout and rr exits 0, well inside the 30 s grace period."""
    log = tmp_path / "jobs.jsonl"
    log.touch()
    rpc_port = free_port()
    rr = RRProcess(f"""
version: "3"
rpc:
  listen: tcp://127.0.0.1:{rpc_port}
server:
  command: "php {PHP_FIXTURES / 'jobs_consumer.php'}"
  env:
    JOBS_LOG: {log}
jobs:
  pool:
    num_workers: 1
    destroy_timeout: 2s
  consume: [p]
  pipelines:
    p:
      driver: memory
      config: {{priority: 1}}
""", tmp_path).start()
    try:
        from rr.goridge.rpc import RPCClient
        from rr.jobs.proto import jobs_pb2 as pb

        with RPCClient(f"tcp://127.0.0.1:{rpc_port}") as c:
            c.call_proto("jobs.Push", pb.PushRequest(job=pb.Job(
                job="t", id="wedged", payload=b"sleep:600000",
                options=pb.Options(pipeline="p"))))
        wait_for(lambda: '"id":"wedged"' in log.read_text(), 20, what="the job started")
        t0 = time.monotonic()
        assert rr.stop(timeout=40) == 0, rr.output
        took = time.monotonic() - t0
        assert took < 15, took
        assert "graceful stop timed out" not in rr.output
    finally:
        rr.kill()
