"""Pool.exec_fenced against real php-cli workers (tests/php/fence_worker.php)."""

from __future__ import annotations

import asyncio
import os

import pytest

from rr.pool.config import PoolConfig, SupervisorConfig
from rr.pool.errors import ExecTTLError, SoftJobError, WorkerError
from rr.pool.payload import Payload
from rr.pool.pool import Pool
from tests.helpers import PHP_FIXTURES

pytestmark = pytest.mark.php
WORKER = ["php", str(PHP_FIXTURES / "fence_worker.php")]


def pool(workers: int = 1, exec_ttl: float = 0.0) -> Pool:
    cfg = PoolConfig(num_workers=workers, allocate_timeout=10,
                     supervisor=SupervisorConfig(exec_ttl=exec_ttl) if exec_ttl else None)
    cfg.stop_grace = 2
    p = Pool("fence", cfg, WORKER, dict(os.environ))
    p._exec_ttl = exec_ttl
    return p


def pid_of(reply: Payload | None) -> int:
    assert reply is not None
    return int(reply.body.rsplit(b":", 1)[1])


async def test_no_reply_is_none_and_frees_the_worker() -> None:
    p = pool()
    await p.start()
    try:
        first = pid_of(await p.exec_fenced(Payload(b"c", b"hi")))
        for _ in range(20):
            assert await p.exec_fenced(Payload(b"c", b"none")) is None
        assert pid_of(await p.exec_fenced(Payload(b"c", b"hi"))) == first  # same worker
    finally:
        await p.destroy()


async def test_second_frame_never_becomes_the_next_reply() -> None:
    p = pool()
    await p.start()
    try:
        for i in range(30):
            reply = await p.exec_fenced(Payload(b"c", b"twice"))
            assert reply is not None and (reply.context, reply.body) == (b"ctx", b"first")
            nxt = await p.exec_fenced(Payload(b"c", f"n{i}".encode()))
            assert nxt is not None and nxt.body.startswith(f"n{i}:".encode())
    finally:
        await p.destroy()


async def test_soft_error_keeps_the_worker() -> None:
    p = pool()
    await p.start()
    try:
        before = pid_of(await p.exec_fenced(Payload(b"c", b"x")))
        with pytest.raises(SoftJobError, match="boom"):
            await p.exec_fenced(Payload(b"c", b"error"))
        assert pid_of(await p.exec_fenced(Payload(b"c", b"x"))) == before
    finally:
        await p.destroy()


async def test_reply_then_exit_delivers_the_reply_and_replaces_the_worker() -> None:
    p = pool()
    await p.start()
    try:
        before = pid_of(await p.exec_fenced(Payload(b"c", b"x")))
        reply = await p.exec_fenced(Payload(b"c", b"reply-exit"))
        assert reply is not None and reply.body == b"last words"
        after = pid_of(await asyncio.wait_for(p.exec_fenced(Payload(b"c", b"x")), 30))
        assert after != before
    finally:
        await p.destroy()


async def test_a_crash_is_a_worker_error_not_a_timeout() -> None:
    p = pool(exec_ttl=30.0)
    await p.start()
    try:
        with pytest.raises(WorkerError) as info:
            await p.exec_fenced(Payload(b"c", b"crash"))
        assert not isinstance(info.value, ExecTTLError)
        reply = await asyncio.wait_for(p.exec_fenced(Payload(b"c", b"ok")), 30)
        assert reply is not None and reply.body.startswith(b"ok:")  # replaced
    finally:
        await p.destroy()


async def test_exec_ttl_and_streams_are_failures() -> None:
    p = pool(exec_ttl=1.0)
    await p.start()
    try:
        with pytest.raises(ExecTTLError):
            await p.exec_fenced(Payload(b"c", b"sleep"))
        with pytest.raises(WorkerError, match="streaming is not supported"):
            await p.exec_fenced(Payload(b"c", b"stream"))
        reply = await asyncio.wait_for(p.exec_fenced(Payload(b"c", b"ok")), 30)
        assert reply is not None and reply.body.startswith(b"ok:")
    finally:
        await p.destroy()
