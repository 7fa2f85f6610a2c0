"""Bad PHP answers, an unreachable cluster, a cluster that goes away and comes back."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import PHP_FIXTURES, wait_for
from tests.temporal.conftest import DevServer
from tests.temporal.harness import TemporalRR, client

pytestmark = [pytest.mark.php, pytest.mark.timeout(240)]


async def first_task_failure(address: str, wid: str, timeout: float = 30.0) -> str:
    c = await client(address)
    h = c.get_workflow_handle(wid)
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        async for e in h.fetch_history_events():
            if e.HasField("workflow_task_failed_event_attributes"):
                return str(e.workflow_task_failed_event_attributes.failure.message)
        await asyncio.sleep(0.2)
    raise TimeoutError("no workflow task failure recorded")


@pytest.mark.parametrize(("mode", "text"), [
    ("garbage", "malformed temporal.v1.Frame from the PHP worker"),
    ("unknown", "undefined command name: Bogus, possible outdated RoadRunner version"),
    ("error", "PHP blew up"),
])
def test_bad_php_answers_fail_the_workflow_task(temporal_address: str, task_queue: str,
                                                tmp_path: Path, mode: str, text: str) -> None:
    t = TemporalRR(temporal_address, task_queue, tmp_path)
    t.rr.config_path.write_text(t.rr.config_path.read_text().replace(
        "temporal_worker.php", "temporal_bad_worker.php"))
    wid = f"bad-{mode}-{uuid.uuid4().hex[:6]}"
    with t.rr:
        t.wait_ready()

        async def scenario() -> tuple[str, Any]:
            c = await client(temporal_address)
            await c.start_workflow("Bad", mode, id=wid, task_queue=task_queue)
            msg = await first_task_failure(temporal_address, wid)
            # rr stays up and serves the next workflow
            ok = await c.start_workflow("Bad", "ok", id=wid + "-ok", task_queue=task_queue)
            return msg, await asyncio.wait_for(ok.result(), 30)

        msg, ok = asyncio.run(scenario())
        assert text in msg
        assert ok == "fine"
        assert t.ready() == 200
    assert (PHP_FIXTURES / "temporal_bad_worker.php").exists()


def test_unreachable_cluster_then_it_comes_up(task_queue: str, tmp_path: Path) -> None:
    server = DevServer(tmp_path)
    t = TemporalRR(server.address, task_queue, tmp_path)
    with t.rr:
        t.rr.wait_output("cannot connect to temporal server", 30)
        assert t.ready() == 503  # honest: no cluster, not ready
        server.start()
        try:
            wait_for(lambda: t.ready() == 200, 60, 0.2, "temporal ready after the cluster came")

            async def scenario() -> Any:
                c = await client(server.address)
                h = await c.start_workflow("Sleeper", 6, id=f"outage-{task_queue}",
                                           task_queue=task_queue)
                for _ in range(100):
                    evs = [e async for e in h.fetch_history_events()]
                    if any(e.HasField("timer_started_event_attributes") for e in evs):
                        break
                    await asyncio.sleep(0.1)
                return h.id

            wid = asyncio.run(scenario())
            server.stop()  # the cluster goes away mid-workflow
            wait_for(lambda: t.ready() == 503, 30, 0.2, "readiness false without a cluster")
            server.start()
            wait_for(lambda: t.ready() == 200, 60, 0.2, "readiness back with the cluster")

            async def finish() -> Any:
                c = await client(server.address)
                return await asyncio.wait_for(c.get_workflow_handle(wid).result(), 120)

            assert asyncio.run(finish()) == ["Hello before", "Hello after"]
        finally:
            server.stop()


def test_two_messages_from_an_activity_worker(temporal_address: str, task_queue: str,
                                              tmp_path: Path) -> None:
    t = TemporalRR(temporal_address, task_queue, tmp_path)
    t.rr.config_path.write_text(t.rr.config_path.read_text().replace(
        "temporal_worker.php", "temporal_bad_worker.php"))
    with t.rr:
        t.wait_ready()

        async def scenario() -> Any:
            c = await client(temporal_address)
            h = await c.start_workflow("Bad", "activity", id=f"badact-{task_queue}",
                                       task_queue=task_queue)
            return await asyncio.wait_for(h.result(), 60)

        # Temporal's ActivityFailure wrapping rr's application failure
        assert asyncio.run(scenario()) == "Activity task failed / invalid activity worker response"
