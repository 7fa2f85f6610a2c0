"""`rr jobs push` against a real server: what the PHP consumer receives, what a broker
stores for every flag, and the failures a user meets (unknown pipeline, bad flags, rr not
running)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import redis

from tests.drivers.conftest import REDIS_PORT, ensure_broker
from tests.helpers import free_port, run_cli, wait_for
from tests.jobs.e2e import JobsServer

pytestmark = pytest.mark.php

PIPES = """
consume: [work]
pipelines:
  work:
    driver: memory
    config: {}
"""


def push(s: JobsServer, *args: str, input: str | None = None) -> tuple[int, str, str]:  # noqa: A002
    r = run_cli("jobs", "push", *args, "-c", str(s.rr.config_path), cwd=s.tmp, input=input)
    return r.returncode, r.stdout, r.stderr


def test_push_reaches_the_php_consumer(tmp_path: Path) -> None:
    with JobsServer(tmp_path, PIPES) as s:
        code, out, err = push(s, "work", "ack", "--name", "App\\Mail\\Send",
                              "--header", "trace=a", "--header", "trace=b",
                              "--header", "tenant=x=1")
        assert code == 0, err
        job_id = out.strip()
        assert str(uuid.UUID(job_id)) == job_id  # the output is the id, nothing else
        code, out, err = push(s, "work", "-", "-s", input="sleep:1")
        assert code == 0, err
        stdin_id = out.strip()
        got = {r["id"]: r for r in s.wait_received(2)}
        first = got[job_id]
        assert (first["job"], first["pipeline"], first["payload"]) == (
            "App\\Mail\\Send", "work", "ack")
        assert first["headers"] == {"trace": ["a", "b"], "tenant": ["x=1"]}
        assert got[stdin_id]["payload"] == "sleep:1" and got[stdin_id]["job"] == "job"


def test_push_flags_travel_to_the_broker(tmp_path: Path) -> None:
    """Priority, delay and auto-ack are not visible to a PHP consumer: read them where
    the redis driver stores them (the pipeline is not consumed, so they stay there)."""
    ensure_broker("redis", REDIS_PORT, "REDIS_PORT")
    stream = f"push-{uuid.uuid4().hex[:8]}"
    pipes = f"""
pipelines:
  later:
    driver: redis
    config:
      stream: {stream}
"""
    extra = f'redis:\n  addrs: ["127.0.0.1:{REDIS_PORT}"]\n'
    raw = redis.Redis(port=REDIS_PORT)
    try:
        with JobsServer(tmp_path, pipes, extra=extra) as s:
            code, out, err = push(s, "later", "{}", "--priority", "7", "--auto-ack",
                                  "--name", "report")
            assert code == 0, err
            entries = raw.xrange(stream)
            assert len(entries) == 1
            fields = entries[0][1]
            assert fields[b"rr_id"].decode() == out.strip()
            assert (fields[b"rr_job"], fields[b"rr_priority"], fields[b"rr_auto_ack"],
                    fields[b"rr_delay"]) == (b"report", b"7", b"true", b"0")

            code, out, err = push(s, "later", "{}", "--delay", "60")
            assert code == 0, err
            wait_for(lambda: raw.zcard(f"{stream}:delayed") == 1, what="a delayed job")
            assert s.stats()["later"].delayed == 1
    finally:
        raw.delete(stream, f"{stream}:delayed")
        raw.close()


def test_push_errors(tmp_path: Path) -> None:
    with JobsServer(tmp_path, PIPES) as s:
        code, out, err = push(s, "nope", "x")
        assert (code, out) == (1, "")
        assert "no such pipeline, requested: nope" in err
        for bad in (["--delay", "-1"], ["--priority", "soon"], ["--header", "novalue"]):
            code, out, err = push(s, "work", "x", *bad)
            assert code == 2 and out == "" and "rr jobs push: error: argument" in err, err
        assert s.received() == []


def test_push_without_a_running_server(tmp_path: Path) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    (tmp_path / ".rr.yaml").write_text(json.dumps({"version": "3", "rpc": {"listen": address}}))
    r = run_cli("jobs", "push", "work", "x", cwd=tmp_path)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.startswith(f"cannot reach rr at {address} (is `rr serve` running with "
                               f"rpc.listen: {address}?)"), r.stderr
