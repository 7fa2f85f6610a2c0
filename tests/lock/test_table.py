"""The lock table's semantics in-process (spec/lock.md §3), with real asyncio timers."""

from __future__ import annotations

import asyncio

import pytest

from rr.lock.table import LockTable

MS = 1000  # microseconds


@pytest.fixture
def table() -> LockTable:
    return LockTable()


async def test_exclusive_blocks_and_release_wakes_the_waiter(table: LockTable) -> None:
    assert await table.lock("r", "a", 0, 0)
    waiter = asyncio.create_task(table.lock("r", "b", 0, 5000 * MS))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    assert table.release("r", "a")
    assert await asyncio.wait_for(waiter, 1)
    assert table.exists("r", "b") and not table.exists("r", "a")


async def test_not_reentrant_and_wait_deadline_returns_false(table: LockTable) -> None:
    assert await table.lock("r", "a", 0, 0)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    assert not await table.lock("r", "a", 0, 100 * MS)
    assert loop.time() - t0 >= 0.099
    assert not await table.lock("r", "b", 0, 0)  # wait 0 = 1 ms
    assert table.stats() == (1, 0)


async def test_waiters_are_woken_in_arrival_order(table: LockTable) -> None:
    assert await table.lock("r", "first", 0, 0)
    order: list[str] = []

    async def take(owner: str) -> None:
        assert await table.lock("r", owner, 0, 5000 * MS)
        order.append(owner)
        await asyncio.sleep(0.01)
        assert table.release("r", owner)

    tasks = []
    for owner in ("w1", "w2", "w3", "w4"):
        tasks.append(asyncio.create_task(take(owner)))
        await asyncio.sleep(0.005)
    table.release("r", "first")
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert order == ["w1", "w2", "w3", "w4"]


async def test_readers_share_writer_waits_and_newcomers_queue_behind(table: LockTable) -> None:
    assert await table.lock_read("r", "r1", 0, 0)
    assert await table.lock_read("r", "r2", 0, 0)
    writer = asyncio.create_task(table.lock("r", "w", 0, 5000 * MS))
    await asyncio.sleep(0.02)
    # a reader arriving while the writer waits queues behind it (no writer starvation)
    late_reader = asyncio.create_task(table.lock_read("r", "r3", 0, 5000 * MS))
    await asyncio.sleep(0.02)
    assert not writer.done() and not late_reader.done()
    assert table.release("r", "r1") and table.release("r", "r2")
    assert await asyncio.wait_for(writer, 1)
    await asyncio.sleep(0.02)
    assert not late_reader.done()
    assert table.release("r", "w")
    assert await asyncio.wait_for(late_reader, 1)


async def test_read_lock_waits_for_writer_even_same_id(table: LockTable) -> None:
    assert await table.lock("r", "a", 0, 0)
    assert not await table.lock_read("r", "a", 0, 20 * MS)
    assert not await table.lock_read("r", "b", 0, 20 * MS)


async def test_sole_reader_promotes_other_reader_blocks(table: LockTable) -> None:
    assert await table.lock_read("r", "a", 0, 0)
    assert await table.lock("r", "a", 0, 0)  # promotion
    assert table.exists("r", "a")
    assert table.release("r", "a")
    assert not table.exists("r", "*")
    assert await table.lock_read("r", "a", 0, 0)
    assert await table.lock_read("r", "b", 0, 0)
    assert not await table.lock("r", "a", 0, 10 * MS)  # not the only reader


async def test_ttl_expiry_frees_and_wakes(table: LockTable) -> None:
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    assert await table.lock("r", "a", 150 * MS, 0)
    assert await table.lock("r", "b", 0, 2000 * MS)
    waited = loop.time() - t0
    assert 0.14 <= waited < 1.5
    assert not table.exists("r", "a") and table.exists("r", "b")


async def test_update_ttl_replaces_the_expiry(table: LockTable) -> None:
    assert await table.lock("r", "a", 100 * MS, 0)
    assert table.update_ttl("r", "a", 1000 * MS)  # replaces: now + 1 s
    await asyncio.sleep(0.3)
    assert table.exists("r", "a")
    assert table.update_ttl("r", "a", 50 * MS)  # shortening works too
    await asyncio.sleep(0.15)
    assert not table.exists("r", "a")
    assert not table.update_ttl("r", "a", 50 * MS)
    assert await table.lock_read("r", "x", 50 * MS, 0)
    assert table.update_ttl("r", "x", 0)  # 0 = no expiry
    await asyncio.sleep(0.1)
    assert table.exists("r", "x")


async def test_release_rules(table: LockTable) -> None:
    assert not table.release("never", "a")
    assert await table.lock("r", "a", 0, 0)
    assert not table.release("r", "b")
    assert table.release("r", "a")
    assert not table.release("r", "a")
    assert await table.lock_read("r", "x", 0, 0)
    assert not table.release("r", "y")
    assert table.release("r", "x")


async def test_force_release_drops_all_and_wakes_waiter(table: LockTable) -> None:
    assert not table.force_release("never")
    assert await table.lock_read("r", "a", 0, 0)
    assert await table.lock_read("r", "b", 0, 0)
    writer = asyncio.create_task(table.lock("r", "w", 0, 5000 * MS))
    await asyncio.sleep(0.02)
    assert table.force_release("r")
    assert await asyncio.wait_for(writer, 1)
    assert table.force_release("r")
    # a resource once used stays known, as in RoadRunner's table
    assert table.force_release("r")
    assert table.stats() == (0, 0)


async def test_exists_star_and_ids(table: LockTable) -> None:
    assert not table.exists("r", "*")
    assert await table.lock_read("r", "a", 0, 0)
    assert table.exists("r", "*") and table.exists("r", "a") and not table.exists("r", "b")


async def test_same_owner_second_read_lock_keeps_one_entry(table: LockTable) -> None:
    assert await table.lock_read("r", "a", 0, 0)
    assert await table.lock_read("r", "a", 0, 0)
    assert table.release("r", "a")
    assert not table.exists("r", "*")  # RoadRunner would keep a phantom reader here
    assert await table.lock("r", "b", 0, 0)


async def test_idle_resources_leave_the_table(table: LockTable) -> None:
    for i in range(5000):
        assert await table.lock(f"res{i}", "a", 0, 0)
        assert table.release(f"res{i}", "a")
    assert table.stats() == (0, 0)
    for i in range(100):
        assert await table.lock_read(f"ttl{i}", "a", 10 * MS, 0)
    await asyncio.sleep(0.1)
    assert table.stats() == (0, 0)


async def test_cancelled_waiter_leaves_queue_and_granted_lock_is_returned(
        table: LockTable) -> None:
    assert await table.lock("r", "a", 0, 0)
    gone = asyncio.create_task(table.lock("r", "gone", 0, 5000 * MS))
    behind = asyncio.create_task(table.lock("r", "behind", 0, 5000 * MS))
    await asyncio.sleep(0.02)
    gone.cancel()
    await asyncio.sleep(0)
    assert table.release("r", "a")
    assert await asyncio.wait_for(behind, 1)
    assert table.release("r", "behind")
    # granted and cancelled in the same loop turn: the grant is handed back
    assert await table.lock("r", "a", 0, 0)
    late = asyncio.create_task(table.lock("r", "late", 0, 5000 * MS))
    await asyncio.sleep(0.02)
    table.release("r", "a")  # grants "late" synchronously
    late.cancel()
    with pytest.raises(asyncio.CancelledError):
        await late
    assert not table.exists("r", "late")


async def test_close_answers_waiters_false_and_refuses_new_locks(table: LockTable) -> None:
    assert await table.lock("r", "a", 10_000 * MS, 0)
    waiter = asyncio.create_task(table.lock("r", "b", 0, 5000 * MS))
    await asyncio.sleep(0.02)
    table.close()
    assert await asyncio.wait_for(waiter, 1) is False
    assert not table.exists("r", "a")
    assert not await table.lock("r", "c", 0, 0)


async def test_caller_gone_ends_the_wait(table: LockTable) -> None:
    loop = asyncio.get_running_loop()
    assert await table.lock("r", "a", 0, 0)
    gone: asyncio.Future[None] = loop.create_future()
    waiter = asyncio.create_task(table.lock("r", "b", 0, 5000 * MS, gone))
    reader = asyncio.create_task(table.lock_read("r", "c", 0, 5000 * MS))
    await asyncio.sleep(0.02)
    gone.set_result(None)
    assert await asyncio.wait_for(waiter, 1) is False
    assert not reader.done()  # still waiting behind the writer "a"
    assert table.release("r", "a")
    assert await asyncio.wait_for(reader, 1)
    assert not table.exists("r", "b")
    # already gone: no wait at all, and no lock if it would have to wait
    assert not await table.lock("r", "d", 0, 5000 * MS, gone)
    assert await table.lock("free", "d", 0, 0, gone)  # granted at once is still granted
