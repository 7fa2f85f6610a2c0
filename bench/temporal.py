"""Temporal throughput: workflows/s for a workflow with one activity, end to end
through rr and PHP, beside the same workflow and activity written with the Python SDK
alone, in the same run against the same dev server.

    python bench/temporal.py [N] [address]

Needs a Temporal server (bash scripts/services/temporal.sh). Prints both rates, their
ratio and rr's CPU time per workflow (rr's own process, PHP workers excluded).
Ratios matter more than absolute numbers on a shared machine.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or '.').resolve() != ROOT / 'bench']
sys.path.insert(0, str(ROOT))

from temporalio import activity, workflow  # noqa: E402
from temporalio.client import Client  # noqa: E402
from temporalio.worker import UnsandboxedWorkflowRunner, Worker  # noqa: E402

from tests.helpers import wait_for  # noqa: E402
from tests.temporal.harness import TemporalRR  # noqa: E402

CONCURRENCY = 50


@activity.defn(name="Greeter.hello")
async def hello(name: str) -> str:
    return f"Hello {name}"


@workflow.defn(name="OneActivity")
class OneActivity:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(  # type: ignore[no-any-return]
            hello, name, start_to_close_timeout=timedelta(seconds=10))


async def drive(address: str, task_queue: str, workflow_name: str, n: int) -> float:
    """Workflows/s with CONCURRENCY workflows in flight; each result is checked."""
    c = await Client.connect(address)
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one(i: int) -> None:
        async with sem:
            r = await c.execute_workflow(workflow_name, f"w{i}", id=f"b-{uuid.uuid4()}",
                                         task_queue=task_queue)
            assert r == f"Hello w{i}", r

    await asyncio.gather(*(one(i) for i in range(20)))  # warm up
    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return n / (time.perf_counter() - t0)


async def python_sdk(address: str, n: int) -> float:
    tq = f"bench-py-{uuid.uuid4().hex[:8]}"
    c = await Client.connect(address)
    # unsandboxed: the faster configuration of the Python SDK, so the baseline is not
    # slowed down by the sandbox's module re-imports
    async with Worker(c, task_queue=tq, workflows=[OneActivity], activities=[hello],
                      workflow_runner=UnsandboxedWorkflowRunner()):
        return await drive(address, tq, "OneActivity", n)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    import os

    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def through_rr(address: str, n: int) -> tuple[float, float]:
    tq = f"bench-rr-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        t = TemporalRR(address, tq, Path(tmp), workers=2)
        t.rr.config_path.write_text(t.rr.config_path.read_text().replace("level: debug",
                                                                          "level: error"))
        with t.rr:
            wait_for(lambda: t.ready() == 200, 60, 0.2, "temporal ready")
            assert t.rr.proc is not None
            pid = t.rr.proc.pid
            before = cpu_seconds(pid)
            rate = asyncio.run(drive(address, tq, "Greeting1", n))
            cpu = cpu_seconds(pid) - before
        return rate, cpu / (n + 20)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    address = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1:7233"
    py = asyncio.run(python_sdk(address, n))
    rr_rate, cpu = through_rr(address, n)
    print(f"workflows with one activity, {n} runs, {CONCURRENCY} in flight, {address}")
    print(f"  Python SDK alone : {py:8.1f} workflows/s")
    print(f"  rr + PHP         : {rr_rate:8.1f} workflows/s   ({rr_rate / py:.2f}x)")
    print(f"  rr CPU           : {cpu * 1000:8.2f} ms per workflow")


if __name__ == "__main__":
    main()
