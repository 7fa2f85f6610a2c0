"""scripts/services/stop.sh stops what the start scripts started, and nothing else."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.drivers.services import answers
from tests.helpers import ROOT, free_port, wait_for

SERVICES = ROOT / "scripts" / "services"
PIDS = Path("/tmp/rr-services")


def script(name: str, *args: str, **ports: int) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RR_PYTHON": sys.executable, **{k: str(v) for k, v in ports.items()}}
    return subprocess.run(["bash", str(SERVICES / name), *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_stop_stops_the_started_moto_only() -> None:
    moto, tansu = free_port(), free_port()
    started = script("moto.sh", MOTO_PORT=moto)
    assert started.returncode == 0 and answers(moto), started.stdout + started.stderr
    result = script("stop.sh", "moto", "tansu", MOTO_PORT=moto, TANSU_PORT=tansu)
    assert result.returncode == 0, result.stderr
    assert "moto: stopped (pid " in result.stdout
    assert f"tansu: not started by these scripts on :{tansu}" in result.stdout
    wait_for(lambda: not answers(moto), 10, what="moto gone")
    assert not (PIDS / f"moto-{moto}.pid").exists()


def test_stop_leaves_a_foreign_process_alone() -> None:
    """A pid file whose pid now belongs to another program (or to nobody) is stale."""
    port = free_port()
    PIDS.mkdir(exist_ok=True)
    other = subprocess.Popen(["sleep", "60"])
    try:
        (PIDS / f"moto-{port}.pid").write_text(str(other.pid))
        result = script("stop.sh", "moto", MOTO_PORT=port)
        assert result.returncode == 0, result.stderr
        assert f"moto: pid {other.pid} is gone (stale" in result.stdout
        assert other.poll() is None  # not signalled
        assert not (PIDS / f"moto-{port}.pid").exists()
    finally:
        other.kill()
        other.wait()


def test_stop_refuses_unknown_arguments() -> None:
    for bad in (["--everything"], ["moto", "postgres"]):
        result = subprocess.run(["bash", str(SERVICES / "stop.sh"), *bad],
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 2, result
        assert f"unknown argument '{bad[-1]}'" in result.stderr
        assert "stopped" not in result.stdout  # nothing is stopped before the check


def test_stop_of_named_services_leaves_the_others_running() -> None:
    """The shared brokers the other test processes use keep running."""
    port = free_port()
    result = script("stop.sh", "moto", MOTO_PORT=port)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"moto: not started by these scripts on :{port}"
