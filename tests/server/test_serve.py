"""`rr serve` as a process: start line, signals, pid file, on_init."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.helpers import PHP_FIXTURES, RRProcess, free_port, rpc, run_cli

pytestmark = pytest.mark.php
WORKER = f"php {PHP_FIXTURES / 'pool_worker.php'}"


def config(rpc_port: int, extra: str = "") -> str:
    return f"""
version: "3"
rpc:
  listen: tcp://127.0.0.1:{rpc_port}
server:
  command: "{WORKER}"
{extra}
http:
  address: 127.0.0.1:{free_port()}
  pool:
    num_workers: 1
"""


def test_sigterm_stops_cleanly_and_pid_file(tmp_path: Path) -> None:
    port = free_port()
    rr = RRProcess(config(port), tmp_path, args=["-p"]).start()
    try:
        assert "RoadRunner server started; version: 2025.1.15" in rr.output
        pid_file = tmp_path / ".pid"
        assert pid_file.read_text().strip() == str(rr.proc.pid)  # type: ignore[union-attr]
        workers = rpc(f"tcp://127.0.0.1:{port}", "informer.Workers", "http")["workers"]
        assert len(workers) == 1
        rr.signal(signal.SIGTERM)
        assert rr.wait(30) == 0
        assert "stop signal received, grace timeout is: 30 seconds" in rr.output
        # the worker was stopped with the server
        with pytest.raises(ProcessLookupError):
            import os

            os.kill(workers[0]["pid"], 0)
    finally:
        rr.kill()


def test_rr_stop_uses_pid_file(tmp_path: Path) -> None:
    rr = RRProcess(config(free_port()), tmp_path, args=["-p"]).start()
    try:
        res = run_cli("stop", cwd=tmp_path)
        assert res.returncode == 0, res.stderr
        assert rr.wait(30) == 0
    finally:
        rr.kill()


def test_second_signal_forces_exit(tmp_path: Path) -> None:
    slow = tmp_path / "slow.php"
    # a worker that takes its time to exit keeps the graceful stop busy
    slow.write_text("<?php\nregister_shutdown_function(fn () => sleep(5));\n"
                    f"require '{PHP_FIXTURES / 'pool_worker.php'}';\n")
    cfg = config(free_port()).replace(WORKER, f"php {slow}")
    rr = RRProcess(cfg, tmp_path).start()
    try:
        rr.signal(signal.SIGINT)
        time.sleep(0.5)
        rr.signal(signal.SIGINT)
        assert rr.wait(10) == 1
        assert "exit forced" in rr.output
    finally:
        rr.kill()


def test_on_init_runs_before_workers(tmp_path: Path) -> None:
    marker = tmp_path / "init.txt"
    extra = (f"  on_init:\n    command: \"php -r file_put_contents('{marker}',getenv('SEED'));"
             f"echo('seeded');\"\n    env:\n      seed: hello\n")
    cfg = config(free_port()).replace(f'  command: "{WORKER}"\n',
                                      f'  command: "{WORKER}"\n{extra}')
    rr = RRProcess(cfg, tmp_path).start()
    try:
        assert marker.read_text() == "hello"
        assert "seeded" in rr.output
    finally:
        rr.stop()


def test_on_init_failure_aborts_only_with_exit_on_error(tmp_path: Path) -> None:
    extra = "  on_init:\n    command: \"php -r exit(3);\"\n    exit_on_error: true\n"
    cfg = config(free_port()).replace(f'  command: "{WORKER}"\n',
                                      f'  command: "{WORKER}"\n{extra}')
    rr = RRProcess(cfg, tmp_path).start(wait=False)
    assert rr.wait(30) == 1
    assert "exited with code 3" in rr.output
    soft = cfg.replace("    exit_on_error: true\n", "")
    rr2 = RRProcess(soft, tmp_path / ".." / tmp_path.name).start()
    try:
        assert "on_init was finished with errors" in rr2.output
    finally:
        rr2.stop()


def test_config_errors_exit_1(tmp_path: Path) -> None:
    (tmp_path / "v.yaml").write_text("version: 3\n")
    res = run_cli("serve", "-c", "v.yaml", cwd=tmp_path)
    assert res.returncode == 1
    assert "version should be a string" in res.stderr
    (tmp_path / "c.yaml").write_text('version: "3"\nserver:\n  command: ""\nhttp:\n'
                                     f"  address: 127.0.0.1:{free_port()}\n")
    res = run_cli("serve", "-c", "c.yaml", cwd=tmp_path)
    assert res.returncode == 1
    assert "command should not be empty" in res.stderr + res.stdout


def test_sigusr2_restarts_in_place(tmp_path: Path) -> None:
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    rr = RRProcess(config(port), tmp_path).start()
    try:
        before = {w["pid"] for w in rpc(address, "informer.Workers", "http")["workers"]}
        rr.signal(signal.SIGUSR2)
        rr.wait_output("restart signal [SIGUSR2] received")
        deadline = time.monotonic() + 30
        while rr.output.count("RoadRunner server started") < 2:
            assert time.monotonic() < deadline, rr.output
            assert rr.proc is not None and rr.proc.poll() is None, rr.output
            time.sleep(0.05)
        after = {w["pid"] for w in rpc(address, "informer.Workers", "http")["workers"]}
        assert len(after) == 1 and not (after & before)
        rr.signal(signal.SIGTERM)
        assert rr.wait(30) == 0
    finally:
        rr.kill()
