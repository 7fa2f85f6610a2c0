"""The PHP library in every role through a real `rr serve`: HTTP worker, jobs consumer,
jobs producer, KV and metrics clients (RR_RPC handed over by the server)."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import RRProcess, free_port, php_worker, wait_for


class Stack:
    def __init__(self, tmp: Path) -> None:
        self.http_port = free_port()
        self.metrics_port = free_port()
        self.log = tmp / "jobs.log"
        self.log.touch()
        self.rr = RRProcess(f"""
            version: "3"
            rpc:
              listen: tcp://127.0.0.1:{free_port()}
            server:
              command: "{php_worker('phplib_e2e_worker.php')}"
              env:
                E2E_LOG: {self.log}
            logs:
              level: info
            http:
              address: 127.0.0.1:{self.http_port}
              pool:
                num_workers: 1
            jobs:
              pool:
                num_workers: 1
              consume: ["e2e"]
              pipelines:
                e2e:
                  driver: memory
                  config:
                    priority: 10
            kv:
              local:
                driver: memory
                config: {{}}
            metrics:
              address: 127.0.0.1:{self.metrics_port}
            """, tmp)

    def get(self, path: str, port: int | None = None) -> tuple[int, dict[str, str], bytes]:
        url = f"http://127.0.0.1:{port or self.http_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=30) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(tmp_path)
    with s.rr:
        yield s


def test_http_worker_answers_and_survives_echo(stack: Stack) -> None:
    for _ in range(3):
        status, headers, body = stack.get("/hello")
        assert (status, body, headers.get("X-Lib")) == (200, b"hello GET", "rr-php")
    stack.rr.wait_output("stray echo must not break the worker")


def test_streamed_response(stack: Stack) -> None:
    status, _, body = stack.get("/stream")
    assert status == 200
    assert body == b"".join(f"part{i};".encode() for i in range(7))
    assert stack.get("/hello")[0] == 200


def test_push_consume_and_requeue(stack: Stack) -> None:
    payload = f"p-{uuid.uuid4()}"
    status, _, job_id = stack.get(f"/push?q=e2e&p={payload}")
    assert status == 200, job_id
    stack.get("/push?q=e2e&p=requeue-once")

    def lines() -> list[str]:
        return stack.log.read_text().splitlines()

    wait_for(lambda: len(lines()) >= 2, 30, what=f"two jobs consumed\n{stack.rr.output}")
    got = sorted(lines())
    assert f"{job_id.decode()} E2E e2e {payload} " in got
    assert any(line.endswith(" E2E e2e requeue-once 2") for line in got)


def test_push_to_unknown_pipeline_is_an_error(stack: Stack) -> None:
    status, _, body = stack.get(f"/push?q=missing-{uuid.uuid4().hex}&p=x")
    assert status == 409
    assert b"no such pipeline" in body


def test_kv_roundtrip(stack: Stack) -> None:
    import json
    key = f"k-{uuid.uuid4().hex}"
    status, _, body = stack.get(f"/kv?k={key}&v=hello")
    assert status == 200, body
    data = json.loads(body)
    assert data["get"] == {"v": "hello"} and data["has"] is True
    assert 500 < data["ttl"] - time.time() <= 601


def test_metrics_declare_and_add(stack: Stack) -> None:
    name = f"e2e_{uuid.uuid4().hex[:8]}"
    assert stack.get(f"/metric?n={name}")[0] == 200
    assert stack.get(f"/metric?n={name}")[0] == 200  # second declare is not an error
    _, _, text = stack.get("/metrics", port=stack.metrics_port)
    assert f'{name}{{page="home"}} 4'.encode() in text
