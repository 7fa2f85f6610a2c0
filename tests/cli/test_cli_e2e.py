"""`rr reset`, `rr workers`, `rr stop` and the RPC services against a real `rr serve` with
real php-cli workers (rpc-and-cli.md §3-4, §7)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rr.commands.common import NO_RPC
from tests.helpers import (
    ROOT,
    RRProcess,
    free_port,
    php_worker,
    rpc,
    rr_env,
    run_cli,
    wait_for,
)

pytestmark = pytest.mark.php

GO_LOG = r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d "


def http_config(rpc_listen: str, http_port: int, workers: int = 2, extra: str = "") -> str:
    return f"""
version: "3"
rpc:
  listen: {rpc_listen}
server:
  command: "{php_worker('cli_worker.php')}"
http:
  address: 127.0.0.1:{http_port}
  pool:
    num_workers: {workers}
{extra}
"""


class Served:
    def __init__(self, rr: RRProcess, address: str, http_port: int) -> None:
        self.rr = rr
        self.address = address
        self.http_port = http_port
        self.dir = rr.workdir

    def get(self, path: str) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=30) as r:
            return r.read().decode()

    def php_rpc(self, method: str, arg: Any = True) -> dict[str, Any]:
        """The call made by the PHP RPC client inside a worker."""
        q = urllib.parse.urlencode({"method": method, "arg": json.dumps(arg)})
        return json.loads(self.get(f"/rpc?{q}"))  # type: ignore[no-any-return]

    def pids(self) -> list[int]:
        return sorted(w["pid"] for w in rpc(self.address, "informer.Workers", "http")["workers"])

    def cli(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, cwd=self.dir, **kw)


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[Served]:
    address = f"tcp://127.0.0.1:{free_port()}"
    http_port = free_port()
    with RRProcess(http_config(address, http_port), tmp_path) as rr:
        yield Served(rr, address, http_port)


def table_rows(text: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")]
            for line in text.splitlines() if line.startswith("|")]


# ---- rr workers ----------------------------------------------------------------------
def test_workers_table(served: Served) -> None:
    served.get("/")  # one exec
    result = served.cli("workers")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("Workers of [http]:\n")
    assert "\x1b[" not in out  # not a terminal: no colours
    lines = out.splitlines()
    border = lines[1]
    assert re.fullmatch(r"\+(-+\+){6}", border)
    assert lines[3] == border and lines[-1] == border
    rows = table_rows(out)
    assert rows[0] == ["PID", "STATUS", "EXECS", "MEMORY", "CPU%", "CREATED"]
    body = rows[1:]
    assert [int(r[0]) for r in body] == served.pids()  # sorted by pid
    assert sum(int(r[2]) for r in body) >= 1
    for r in body:
        assert r[1] in ("ready", "working")
        assert re.fullmatch(r"\d+(\.\d)? (B|kB|MB|GB)", r[3])
        assert re.fullmatch(r"\d+\.\d\d", r[4])
        assert r[5] == "now" or r[5].endswith("ago")


def test_workers_named_plugins_and_unknown(served: Served) -> None:
    result = served.cli("workers", "http", "nope")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("Workers of [") == 1
    assert "nope" not in result.stdout


def test_workers_interactive_exits_on_sigint(served: Served) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "rr", "workers", "-i"], cwd=served.dir,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=rr_env())
    try:
        assert proc.stdout is not None
        seen = ""
        while "Workers of [http]" not in seen:
            chunk = proc.stdout.readline()
            assert chunk, proc.stderr.read() if proc.stderr else ""
            seen += chunk
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
        assert seen.startswith("\x1b[2J")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_add_and_remove_worker(served: Served) -> None:
    assert rpc(served.address, "informer.AddWorker", "http") is False
    wait_for(lambda: len(served.pids()) == 3, what="3 workers")
    assert len(table_rows(served.cli("workers").stdout)) == 4
    assert rpc(served.address, "informer.RemoveWorker", "http") is False
    wait_for(lambda: len(served.pids()) == 2, what="2 workers")


# ---- rr reset ------------------------------------------------------------------------
def test_reset_all_replaces_workers(served: Served) -> None:
    before = served.pids()
    result = served.cli("reset")
    assert result.returncode == 0, result.stderr
    # the progress goes to stdout (RoadRunner logs it to stderr), in Go's log format
    assert re.fullmatch(rf"{GO_LOG}resetting plugin: \[http\] \n{GO_LOG}plugin reset: \[http\]\n",
                        result.stdout), result.stdout
    assert result.stderr == ""
    after = served.pids()
    assert len(after) == 2 and not set(before) & set(after)
    assert served.get("/").startswith("ok ")


def test_reset_silent(served: Served) -> None:
    before = served.pids()
    result = served.cli("reset", "http", "-s")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert not set(before) & set(served.pids())


def test_reset_unknown_plugin(served: Served) -> None:
    result = served.cli("reset", "nope")
    assert result.returncode == 0  # as RoadRunner; the failure is still reported
    assert "resetting plugin: [nope]" in result.stdout
    assert "no such plugin: nope" in result.stderr
    assert "plugin reset: [nope]" not in result.stdout + result.stderr


# ---- RPC as the PHP SDK sees it ------------------------------------------------------
def test_php_rpc_client(served: Served) -> None:
    workers = served.php_rpc("informer.Workers", "http")["result"]["workers"]
    assert sorted(w["pid"] for w in workers) == served.pids()
    assert set(workers[0]) == {"pid", "status", "numExecs", "created", "memoryUsage",
                               "CPUPercent", "command", "statusStr"}
    assert served.php_rpc("informer.Workers", "nope")["result"] == {"workers": []}
    assert served.php_rpc("rpc.Version")["result"] == "2025.1.15"
    assert served.php_rpc("informer.List")["result"] == ["http"]
    assert served.php_rpc("resetter.List")["result"] == ["http"]
    error = served.php_rpc("nope.Method")["error"]
    assert "rpc: can't find service nope.Method" in error


def test_rpc_config_is_effective_config(tmp_path: Path) -> None:
    import base64

    address = f"tcp://127.0.0.1:{free_port()}"
    http_port = free_port()
    marker = uuid.uuid4().hex
    with RRProcess(http_config(address, http_port, workers=1), tmp_path,
                   args=["-o", f"status.address=127.0.0.1:{free_port()}",
                         "-o", f"metrics.collect.m_{marker}.type=counter"]):
        config = json.loads(base64.b64decode(rpc(address, "rpc.Config")))
        assert config["rpc"]["listen"] == address
        assert f"m_{marker}" in config["metrics"]["collect"]


# ---- configuration of the client commands -------------------------------------------
def test_cli_without_rpc_section(tmp_path: Path) -> None:
    (tmp_path / ".rr.yaml").write_text('version: "3"\nserver:\n  command: php x.php\n')
    for command in ("reset", "workers", "jobs list", "cron"):
        result = run_cli(*command.split(), cwd=tmp_path)
        assert result.returncode == 1
        assert NO_RPC.replace("\r", "\n") in result.stderr  # text mode turns \r into \n


def test_cli_server_not_running(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / ".rr.yaml").write_text(f'version: "3"\nrpc:\n  listen: tcp://127.0.0.1:{port}\n')
    address = f"tcp://127.0.0.1:{port}"
    for command in (["reset"], ["reset", "http"], ["workers"], ["jobs", "list"],
                    ["jobs", "pause", "a"], ["cron", "list"]):
        result = run_cli(*command, cwd=tmp_path)
        assert result.returncode == 1 and result.stdout == "", command
        # one wording in every client command: the address, the likely cause, Go's error
        assert result.stderr == (
            f"cannot reach rr at {address} (is `rr serve` running with rpc.listen: "
            f"{address}?): dial tcp 127.0.0.1:{port}: connect: connection refused\n"), command


def test_cli_override_and_config_from_other_dir(served: Served, tmp_path_factory:
                                                pytest.TempPathFactory) -> None:
    other = tmp_path_factory.mktemp("client")
    (other / "client.yaml").write_text('version: "3"\n')
    result = run_cli("-c", str(other / "client.yaml"), "-o", f"rpc.listen={served.address}",
                     "workers", cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "Workers of [http]:" in result.stdout


def test_cli_bad_config(tmp_path: Path) -> None:
    (tmp_path / ".rr.yaml").write_text("version: 3\nrpc: {}\n")
    result = run_cli("workers", cwd=tmp_path)
    assert result.returncode == 1
    assert 'version should be a string: `version: "3"`, actual type is: int' in result.stderr


# ---- unix socket listener ------------------------------------------------------------
def test_unix_socket_rpc(tmp_path: Path) -> None:
    sock = Path(tempfile.gettempdir()) / f"rr-{uuid.uuid4().hex[:10]}.sock"
    http_port = free_port()
    with RRProcess(http_config(f"unix://{sock}", http_port, workers=1), tmp_path) as rr:
        result = run_cli("workers", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert len(table_rows(result.stdout)) == 2
        # PHP reaches the server over the same unix socket (RR_RPC)
        with urllib.request.urlopen(
                f"http://127.0.0.1:{http_port}/rpc?method=rpc.Version", timeout=30) as r:
            assert json.loads(r.read())["result"] == "2025.1.15"
        assert rr.stop() == 0
    assert not sock.exists()


# ---- rr stop -------------------------------------------------------------------------
def test_stop_with_pid_file(tmp_path: Path) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    rr = RRProcess(http_config(address, free_port(), workers=1), tmp_path, args=["-p"])
    with rr:
        pid = int((tmp_path / ".pid").read_text())
        assert pid == rr.proc.pid  # type: ignore[union-attr]
        result = run_cli("stop", cwd=tmp_path)
        assert result.returncode == 0
        assert re.fullmatch(rf"{GO_LOG}stopping process with PID: {pid}\n", result.stderr)
        assert rr.wait(30) == 0
    # the RPC port is closed with the server
    result = run_cli("workers", cwd=tmp_path)
    assert result.returncode == 1 and "connection refused" in result.stderr


def test_stop_without_pid_file(tmp_path: Path) -> None:
    (tmp_path / ".rr.yaml").write_text('version: "3"\n')
    result = run_cli("stop", cwd=tmp_path)
    assert result.returncode == 1
    assert ("open .pid: no such file or directory, to create a .pid file, you must run RR "
            "with the following options: './rr serve -p'") in result.stderr


def test_stop_stale_pid(tmp_path: Path) -> None:
    (tmp_path / ".rr.yaml").write_text('version: "3"\n')
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / ".pid").write_text(str(dead.pid))
    result = run_cli("stop", "-s", cwd=tmp_path)
    assert result.returncode == 1
    assert "not running" in result.stderr
    assert "stopping process" not in result.stderr


def test_stop_force_sends_second_signal(tmp_path: Path) -> None:
    # a process that survives the first SIGTERM and counts them
    script = tmp_path / "stubborn.py"
    out = tmp_path / "signals.txt"
    script.write_text(
        "import signal, time, pathlib\n"
        f"p = pathlib.Path({str(out)!r})\n"
        "def h(*a):\n"
        "    n = int(p.read_text() or 0) + 1 if p.exists() else 1\n"
        "    p.write_text(str(n))\n"
        "    if n == 2: raise SystemExit(0)\n"
        "signal.signal(signal.SIGTERM, h)\n"
        "p.write_text('0')\n"
        "while True: time.sleep(0.05)\n")
    proc = subprocess.Popen([sys.executable, str(script)])
    try:
        wait_for(lambda: out.exists(), what="stub ready")
        (tmp_path / ".rr.yaml").write_text('version: "3"\n')
        (tmp_path / ".pid").write_text(str(proc.pid))
        result = run_cli("stop", "-f", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert proc.wait(30) == 0
        assert out.read_text() == "2"
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def test_sigterm_with_open_rpc_connections(tmp_path: Path) -> None:
    import socket

    from rr.goridge.rpc import encode_request

    address = f"tcp://127.0.0.1:{free_port()}"
    rr = RRProcess(http_config(address, free_port(), workers=1), tmp_path)
    with rr:
        host, port = address[len("tcp://"):].rsplit(":", 1)
        idle = socket.create_connection((host, int(port)))
        half = socket.create_connection((host, int(port)))
        half.sendall(encode_request(1, "rpc.Version", b"true")[:15])  # a partial frame
        rr.signal(signal.SIGTERM)
        assert rr.wait(60) == 0
        idle.settimeout(10)
        assert idle.recv(100) == b""
        idle.close()
        half.close()
