"""Workflows and activities written in PHP, run by rr against a real Temporal server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.helpers import wait_for
from tests.temporal.harness import TemporalRR, run_workflow

pytestmark = [pytest.mark.php, pytest.mark.timeout(180)]


def test_activity_and_timer(temporal_address: str, task_queue: str, tmp_path: Path) -> None:
    t = TemporalRR(temporal_address, task_queue, tmp_path)
    with t.rr:
        wait_for(lambda: t.ready() == 200, 30, 0.2, "temporal ready")
        result = asyncio.run(run_workflow(temporal_address, "Greeting", ["World"], task_queue))
        assert result == "Hello World"
