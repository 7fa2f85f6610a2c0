"""Worker relays on both event loops rr can run on (uvloop for `rr serve`, plain asyncio):
real OS pipes for `pipes`, and tcp/unix sockets with the php/ library's Worker::create()."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
import uvloop

from rr.pool.config import PoolConfig
from rr.pool.payload import Payload
from rr.pool.pool import Pool
from tests.helpers import PHP_FIXTURES, free_port

pytestmark = pytest.mark.php
LOOPS: dict[str, Callable[[Coroutine[Any, Any, None]], None]] = {
    "uvloop": uvloop.run, "asyncio": asyncio.run}


def make_pool(command: list[str], relay: str = "pipes", workers: int = 2) -> Pool:
    cfg = PoolConfig(num_workers=workers, allocate_timeout=20)
    cfg.stop_grace = 2
    env = {**os.environ, "RR_RELAY": relay}
    return Pool("test", cfg, command, env, relay=relay)


async def body(pool: Pool, text: str) -> str:
    return (await pool.exec(Payload(b"", text.encode()))).body.decode()


@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_idle_pipe_worker_outlives_default_socket_timeout(loop: str) -> None:
    """An SDK-style worker (plain fread on STDIN, no timeout handling) idles longer than
    its default_socket_timeout and is still the same warm process."""

    async def main() -> None:
        p = make_pool(["php", "-d", "default_socket_timeout=2",
                       str(PHP_FIXTURES / "pool_worker.php")], workers=1)
        await p.start()
        try:
            pid = int(await body(p, "pid"))
            for fd in (0, 1):
                assert stat.S_ISFIFO(os.stat(f"/proc/{pid}/fd/{fd}").st_mode), fd
            await asyncio.sleep(5)
            assert int(await body(p, "pid")) == pid
            assert [w.pid for w in p.workers()] == [pid]
        finally:
            await p.destroy()

    LOOPS[loop](main())


@pytest.mark.parametrize("loop", sorted(LOOPS))
@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_socket_relays_with_the_php_library(loop: str, kind: str, tmp_path: Path) -> None:
    sock = tmp_path / "rr.sock"
    relay = f"tcp://127.0.0.1:{free_port()}" if kind == "tcp" else f"unix://{sock}"

    async def main() -> None:
        p = make_pool(["php", str(PHP_FIXTURES / "phplib_worker.php")], relay=relay)
        await p.start()
        try:
            assert len(p.workers()) == 2
            replies = await asyncio.gather(*(body(p, f"n{i}") for i in range(40)))
            assert replies == [f"echo:n{i}" for i in range(40)]
            if kind == "unix":
                assert sock.exists()
        finally:
            await p.destroy()
        assert not sock.exists()  # removed when the last worker's channel closed

    LOOPS[loop](main())
