"""The jobs table of `rr workers`, `logs` shapes and config errors through `rr serve`, and the
informer after a worker died — all with real php-cli workers."""

from __future__ import annotations

import json
import os
import re
import signal
import uuid
from pathlib import Path

import pytest

from tests.helpers import ROOT, RRProcess, free_port, php_worker, rpc, run_cli, wait_for

pytestmark = pytest.mark.php


def table_rows(text: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")]
            for line in text.splitlines() if line.startswith("|")]


def test_workers_shows_jobs_pipelines(tmp_path: Path) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    active, paused = f"p-{uuid.uuid4().hex[:8]}", f"q-{uuid.uuid4().hex[:8]}"
    config = f"""
version: "3"
rpc:
  listen: {address}
server:
  command: "php {ROOT / 'php' / 'examples' / 'worker.php'}"
jobs:
  pool:
    num_workers: 1
  consume: ["{active}"]
  pipelines:
    {active}:
      driver: memory
      config:
        priority: 10
    {paused}:
      driver: memory
      config: {{}}
"""
    with RRProcess(config, tmp_path):
        result = run_cli("workers", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        out = result.stdout
        assert "Workers of [jobs]:" in out
        jobs_part = out[out.index("Jobs of [jobs]:"):]
        rows = table_rows(jobs_part)
        assert rows[0] == ["STATUS", "PIPELINE", "DRIVER", "QUEUE", "ACTIVE", "DELAYED",
                           "RESERVED"]
        by_name = {r[1]: r for r in rows[1:]}
        assert by_name[active][0] == "READY" and by_name[active][2] == "memory"
        assert by_name[paused][0] == "PAUSED/STOPPED"
        states = rpc(address, "informer.Jobs", "jobs")
        assert {s["Pipeline"] for s in states} == {active, paused}


def test_production_logs_and_raw_channel(tmp_path: Path) -> None:
    http_port = free_port()
    marker = uuid.uuid4().hex
    config = f"""
version: "3"
rpc:
  listen: tcp://127.0.0.1:{free_port()}
server:
  command: "{php_worker('cli_worker.php')}"
  env:
    MARKER: {marker}
logs:
  mode: production
  level: debug
  channels:
    server:
      mode: raw
http:
  address: 127.0.0.1:{http_port}
  pool:
    num_workers: 1
"""
    with RRProcess(config, tmp_path) as rr:
        rr.wait_output('"logger":"rpc"')
    lines = rr.output.splitlines()
    entries = [json.loads(x) for x in lines if x.startswith("{")]
    assert entries, rr.output
    for entry in entries:
        assert list(entry)[:4] == ["level", "ts", "logger", "msg"]
        assert isinstance(entry["ts"], int) and entry["ts"] > 10**18
    assert any(e["logger"] == "rpc" and e["msg"] == "plugin was started" for e in entries)
    # no `server` logger line is JSON: that channel is raw
    assert not any(e["logger"] == "server" for e in entries)


def test_serve_reports_config_errors(tmp_path: Path) -> None:
    (tmp_path / ".rr.yaml").write_text('version: "3"\nrpc:\n  listen: "127.0.0.1:6001"\n')
    result = run_cli("serve", cwd=tmp_path, timeout=60)
    assert result.returncode == 1
    assert "invalid socket DSN (tcp://:6001, unix://file.sock)" in result.stderr

    (tmp_path / ".rr.yaml").write_text("rpc: {}\n")
    result = run_cli("serve", cwd=tmp_path, timeout=60)
    assert result.returncode == 1
    assert "rr configuration file should contain a version e.g: version: 3" in result.stderr

    result = run_cli("serve", "-o", "nokey", cwd=tmp_path, timeout=60)
    assert result.returncode == 1


def test_rpc_port_in_use_fails_serve(tmp_path: Path) -> None:
    import socket

    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        (tmp_path / ".rr.yaml").write_text(
            f'version: "3"\nrpc:\n  listen: tcp://127.0.0.1:{port}\n')
        result = run_cli("serve", cwd=tmp_path, timeout=60)
    assert result.returncode == 1
    assert f"listen tcp 127.0.0.1:{port}: bind: address already in use" in (
        result.stderr + result.stdout)


def test_informer_after_worker_crash(tmp_path: Path) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    config = f"""
version: "3"
rpc:
  listen: {address}
server:
  command: "{php_worker('cli_worker.php')}"
http:
  address: 127.0.0.1:{free_port()}
  pool:
    num_workers: 2
"""
    with RRProcess(config, tmp_path):
        before = {w["pid"] for w in rpc(address, "informer.Workers", "http")["workers"]}
        victim = min(before)
        os.kill(victim, signal.SIGKILL)

        def replaced() -> bool:
            pids = {w["pid"] for w in rpc(address, "informer.Workers", "http")["workers"]}
            return victim not in pids and len(pids) == 2

        wait_for(replaced, 30, what="the killed worker to be replaced")
        result = run_cli("workers", "http", cwd=tmp_path)
        assert result.returncode == 0
        pids = [int(r[0]) for r in table_rows(result.stdout)[1:]]
        assert victim not in pids and len(pids) == 2
        assert re.search(r"\| (ready|working) ", result.stdout)
