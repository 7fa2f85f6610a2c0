"""Replay: a killed PHP workflow worker, a killed rr, GetVersion across a code change."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import rpc, wait_for
from tests.temporal.harness import TemporalRR, client

pytestmark = [pytest.mark.php, pytest.mark.timeout(240)]


def ww_pid(t: TemporalRR) -> int:
    """The workflow worker is listed first by `rr workers temporal` (spec §12)."""
    workers = rpc(f"127.0.0.1:{t.rpc_port}", "informer.Workers", "temporal")["workers"]
    return int(workers[0]["pid"])


async def history_events(address: str, wid: str) -> list[Any]:
    c = await client(address)
    h = c.get_workflow_handle(wid)
    return [e async for e in h.fetch_history_events()]


def completed_events(events: list[Any]) -> int:
    return sum(1 for e in events if e.HasField("workflow_execution_completed_event_attributes"))


def activity_scheduled(events: list[Any]) -> int:
    return sum(1 for e in events if e.HasField("activity_task_scheduled_event_attributes"))


def test_kill_9_of_the_workflow_worker_replays(temporal_address: str, task_queue: str,
                                               tmp_path: Path) -> None:
    t = TemporalRR(temporal_address, task_queue, tmp_path)
    wid = f"sleep-{task_queue}"
    with t.rr:
        t.wait_ready()

        async def scenario() -> Any:
            c = await client(temporal_address)
            h = await c.start_workflow("Sleeper", 4, id=wid, task_queue=task_queue)
            # wait until the first activity finished and the timer runs
            async def timer_started() -> bool:
                evs = await history_events(temporal_address, wid)
                return any(e.HasField("timer_started_event_attributes") for e in evs)
            for _ in range(100):
                if await timer_started():
                    break
                await asyncio.sleep(0.1)
            old = ww_pid(t)
            os.kill(old, signal.SIGKILL)
            wait_for(lambda: ww_pid(t) != old, 30, 0.2, "a new workflow worker")
            return await asyncio.wait_for(h.result(), 90)

        assert asyncio.run(scenario()) == ["Hello before", "Hello after"]
        events = asyncio.run(history_events(temporal_address, wid))
        assert completed_events(events) == 1
        assert activity_scheduled(events) == 2  # replay did not run "before" again


def test_side_effect_value_survives_replay(temporal_address: str, task_queue: str,
                                           tmp_path: Path) -> None:
    t = TemporalRR(temporal_address, task_queue, tmp_path)
    with t.rr:
        t.wait_ready()

        from temporalio.client import WorkflowQueryFailedError

        async def scenario() -> tuple[Any, Any]:
            c = await client(temporal_address)
            h = await c.start_workflow("SideEffects", id=f"se-{task_queue}",
                                       task_queue=task_queue)
            first = None
            for _ in range(100):
                try:  # the handler is registered once the side effect resolved
                    first = await h.query("first")
                except WorkflowQueryFailedError:
                    first = None
                if first is not None:
                    break
                await asyncio.sleep(0.1)
            old = ww_pid(t)
            os.kill(old, signal.SIGKILL)  # the next task replays into a fresh PHP process
            wait_for(lambda: ww_pid(t) != old, 30, 0.2, "a new workflow worker")
            await h.signal("go")
            return first, await asyncio.wait_for(h.result(), 90)

        first, (value, again, replaying) = asyncio.run(scenario())
        assert isinstance(first, int) and value == first  # the recorded value won
        assert isinstance(again, int) and again != first
        assert replaying is False


def test_kill_9_of_rr_mid_workflow(temporal_address: str, task_queue: str,
                                   tmp_path: Path) -> None:
    wid = f"rrkill-{task_queue}"
    t = TemporalRR(temporal_address, task_queue, tmp_path)
    with t.rr:
        t.wait_ready()

        async def start() -> None:
            c = await client(temporal_address)
            await c.start_workflow("Sleeper", 3, id=wid, task_queue=task_queue)
            for _ in range(100):
                evs = await history_events(temporal_address, wid)
                if any(e.HasField("timer_started_event_attributes") for e in evs):
                    return
                await asyncio.sleep(0.1)

        asyncio.run(start())
        t.rr.kill()  # SIGKILL rr and its PHP workers
    t2 = TemporalRR(temporal_address, task_queue, tmp_path)
    with t2.rr:
        async def finish() -> Any:
            c = await client(temporal_address)
            return await asyncio.wait_for(c.get_workflow_handle(wid).result(), 90)

        assert asyncio.run(finish()) == ["Hello before", "Hello after"]
    assert completed_events(asyncio.run(history_events(temporal_address, wid))) == 1


def test_get_version_across_a_code_change(temporal_address: str, task_queue: str,
                                          tmp_path: Path) -> None:
    """A run started by the old code replays with the new code: GetVersion answers the
    default version -1 for it, while a new run gets the new version 1."""
    wid_old, wid_new = f"v-old-{task_queue}", f"v-new-{task_queue}"
    t = TemporalRR(temporal_address, task_queue, tmp_path)
    with t.rr:
        t.wait_ready()

        async def start_old() -> None:
            c = await client(temporal_address)
            await c.start_workflow("Versioned", id=wid_old, task_queue=task_queue)
            for _ in range(100):
                evs = await history_events(temporal_address, wid_old)
                if any(e.HasField("workflow_task_completed_event_attributes") for e in evs):
                    return
                await asyncio.sleep(0.1)

        asyncio.run(start_old())
    t2 = TemporalRR(temporal_address, task_queue, tmp_path,
                    env={"TEMPORAL_FIXTURE_VERSION": "2"})
    with t2.rr:
        t2.wait_ready()

        async def finish() -> tuple[Any, Any]:
            c = await client(temporal_address)
            old = c.get_workflow_handle(wid_old)
            await old.signal("go")
            new = await c.start_workflow("Versioned", id=wid_new, task_queue=task_queue)
            await asyncio.sleep(0.5)
            await new.signal("go")
            return (await asyncio.wait_for(old.result(), 60),
                    await asyncio.wait_for(new.result(), 60))

        old_result, new_result = asyncio.run(finish())
        assert old_result == ["version -1", "Hello end"]
        assert new_result == ["version 1", "Hello v1", "Hello end"]
        events = asyncio.run(history_events(temporal_address, wid_new))
        markers = [e.marker_recorded_event_attributes for e in events
                   if e.HasField("marker_recorded_event_attributes")]
        assert markers, "GetVersion recorded no marker"

        async def change_version() -> Any:
            c = await client(temporal_address)
            return (await c.get_workflow_handle(wid_new).describe()).search_attributes.get(
                "TemporalChangeVersion")

        # the Go-compatible "<changeID>-<version>" entry, upserted from the patch id
        assert asyncio.run(change_version()) == ["new-step-1"]
