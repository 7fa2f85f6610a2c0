"""Pool behaviour against real php-cli workers (tests/php/pool_worker.php)."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from rr.goridge.rpc import parse_address
from rr.pool.config import PoolConfig, SupervisorConfig
from rr.pool.errors import (
    ExecTTLError,
    MaxQueueSizeError,
    NoFreeWorkersError,
    PoolStoppedError,
    SoftJobError,
    WorkerError,
)
from rr.pool.payload import Payload
from rr.pool.pool import Pool
from rr.pool.state import WorkerState
from tests.helpers import PHP_FIXTURES, free_port

pytestmark = pytest.mark.php
WORKER = ["php", str(PHP_FIXTURES / "pool_worker.php")]


def make_pool(tmp_path: Path | None = None, command: list[str] | None = None,
              relay: str = "pipes", **kw: object) -> Pool:
    sup = kw.pop("supervisor", None)
    cfg = PoolConfig(num_workers=int(kw.pop("num_workers", 2)),  # type: ignore[arg-type]
                     allocate_timeout=float(kw.pop("allocate_timeout", 10)),  # type: ignore[arg-type]
                     supervisor=sup, **kw)  # type: ignore[arg-type]
    cfg.stop_grace = 2
    return Pool("test", cfg, command or WORKER, dict(os.environ), relay=relay)


async def run(pool: Pool, body: str, ctx: bytes = b"") -> Payload:
    return await pool.exec(Payload(ctx, body.encode()))


async def pids(pool: Pool) -> set[int]:
    return {w.pid for w in pool.workers()}


async def wait_workers(pool: Pool, n: int, timeout: float = 10) -> None:
    for _ in range(int(timeout / 0.05)):
        if sum(1 for w in pool.workers() if w.state == WorkerState.READY) >= n:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"pool did not get {n} ready workers: {pool.workers()}")


@pytest.fixture
async def pool() -> Pool:
    p = make_pool()
    await p.start()
    yield p
    await p.destroy()


async def test_handshake_and_echo(pool: Pool) -> None:
    assert len(pool.workers()) == 2
    assert all(w.to_dict()["statusStr"] == "ready" for w in pool.workers())
    reply = await run(pool, "echo:hello", b'{"a":1}')
    assert reply.context == b'{"a":1}' and reply.body == b"hello"
    info = pool.workers()[0].to_dict()
    assert set(info) == {"pid", "status", "numExecs", "created", "memoryUsage", "CPUPercent",
                         "command", "statusStr"}
    assert info["memoryUsage"] > 1_000_000


async def test_error_frame_keeps_worker(pool: Pool) -> None:
    before = await pids(pool)
    with pytest.raises(SoftJobError) as e:
        await run(pool, "error:boom")
    assert e.value.message == "boom"
    assert "SoftJobError: boom" in str(e.value)
    assert await pids(pool) == before
    assert (await run(pool, "echo:ok")).body == b"ok"


async def test_crash_mid_request_is_replaced(pool: Pool) -> None:
    before = await pids(pool)
    with pytest.raises(WorkerError):
        await run(pool, "crash")
    assert (await run(pool, "echo:next")).body == b"next"
    await wait_workers(pool, 2)
    after = await pids(pool)
    assert len(after) == 2 and after != before


async def test_exec_ttl_kills_and_replaces() -> None:
    p = make_pool(supervisor=SupervisorConfig(exec_ttl=0.5))
    await p.start()
    try:
        before = await pids(p)
        results = await asyncio.gather(run(p, "sleep:5000"), run(p, "sleep:5000"),
                                       return_exceptions=True)
        assert all(isinstance(r, ExecTTLError) for r in results), results
        await wait_workers(p, 2)
        assert not (await pids(p) & before)
        for pid in before:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
        assert (await run(p, "echo:alive")).body == b"alive"
    finally:
        await p.destroy()


async def test_max_jobs_rotation() -> None:
    p = make_pool(num_workers=1, max_jobs=3)
    await p.start()
    try:
        seen = [int((await run(p, "pid")).body) for _ in range(12)]
        # jitter allows up to +14%: 3 jobs per worker exactly (3 * 0.14 < 1)
        assert len(set(seen)) == 4, seen
        assert seen[0] == seen[1] == seen[2] != seen[3]
    finally:
        await p.destroy()


async def test_max_worker_memory_restart(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    p = make_pool(num_workers=1, supervisor=SupervisorConfig(watch_tick=0.2,
                                                             max_worker_memory=40))
    await p.start()
    try:
        pid = int((await run(p, "pid")).body)
        await run(p, "mem:64")
        for _ in range(100):
            await asyncio.sleep(0.1)
            if pid not in await pids(p) and p.ready():
                break
        assert pid not in await pids(p)
        assert int((await run(p, "pid")).body) != pid
        retired = [r for r in caplog.records if "memory limit" in r.getMessage()]
        assert retired and retired[0].levelname == "INFO"
        assert retired[0].fields["pid"] == pid  # type: ignore[attr-defined]
    finally:
        await p.destroy()


async def test_ttl_and_idle_ttl() -> None:
    p = make_pool(num_workers=1, supervisor=SupervisorConfig(watch_tick=0.2, ttl=1.0))
    await p.start()
    try:
        pid = int((await run(p, "pid")).body)
        await asyncio.sleep(2.0)
        await wait_workers(p, 1)
        assert int((await run(p, "pid")).body) != pid
    finally:
        await p.destroy()
    p = make_pool(num_workers=1, supervisor=SupervisorConfig(watch_tick=0.2, idle_ttl=1.0))
    await p.start()
    try:
        unused = await pids(p)
        await asyncio.sleep(1.6)
        assert await pids(p) == unused, "a worker that never ran is not idle-retired"
        pid = int((await run(p, "pid")).body)
        await asyncio.sleep(2.0)
        await wait_workers(p, 1)
        assert int((await run(p, "pid")).body) != pid
    finally:
        await p.destroy()


async def test_reset_under_load_loses_nothing(pool: Pool) -> None:
    before = await pids(pool)
    results: list[bytes] = []

    async def client(i: int) -> None:
        for j in range(40):
            results.append((await run(pool, f"echo:{i}-{j}")).body)
            await asyncio.sleep(0.005)

    clients = [asyncio.create_task(client(i)) for i in range(4)]
    await asyncio.sleep(0.1)
    await pool.reset()
    await asyncio.gather(*clients)
    assert len(results) == 160
    assert sorted(results) == sorted(f"{i}-{j}".encode() for i in range(4) for j in range(40))
    after = await pids(pool)
    assert len(after) == 2 and not (after & before)


async def test_stdout_garbage_is_reported_and_replaced(
        pool: Pool, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(WorkerError) as e:
        await run(pool, "garbage")
    assert "validation failed on the message sent to STDOUT" in str(e.value)
    assert "not a frame" in str(e.value)
    assert "invalid data found in the buffer (possible echo)" in caplog.text
    assert (await run(pool, "echo:fine")).body == b"fine"


async def test_stray_frame_never_reaches_next_request(pool: Pool) -> None:
    assert (await run(pool, "stray")).body == b"first"
    # no pause: the stray error frame may still be on its way when the next request goes
    for i in range(10):
        assert (await run(pool, f"echo:{i}")).body == str(i).encode()


async def test_worker_initiated_stop_retries_elsewhere(pool: Pool, tmp_path: Path) -> None:
    marker = tmp_path / "stopped"
    before = await pids(pool)
    reply = await run(pool, f"stop:{marker}")
    assert reply.body == b"retried" and marker.exists()
    await wait_workers(pool, 2)
    assert len(await pids(pool) - before) == 1


async def test_bad_php_script_gives_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.php"
    bad.write_text("<?php this is not php;\n")
    p = make_pool(command=["php", str(bad)], allocate_timeout=5)
    with pytest.raises(WorkerError) as e:
        await p.start()
    assert "PHP Parse error" in str(e.value) or "syntax error" in str(e.value)
    missing = make_pool(command=["php", str(tmp_path / "nope.php")], allocate_timeout=5)
    with pytest.raises(WorkerError) as e:
        await missing.start()
    assert "Could not open input file" in str(e.value)
    nobin = make_pool(command=["no-such-binary-xyz"], allocate_timeout=5)
    with pytest.raises(WorkerError) as e:
        await nobin.start()
    assert "no-such-binary-xyz" in str(e.value)


async def test_respawn_backs_off_when_workers_keep_dying(tmp_path: Path) -> None:
    """Workers that die right after start are respawned with a growing back-off."""
    script = tmp_path / "dies.php"
    flag = tmp_path / "die"
    script.write_text(
        "<?php\n"
        f"$flag = '{flag}';\n"
        f"require '{PHP_FIXTURES / 'pool_worker.php'}';\n")
    # pool_worker.php ignores $flag; use a wrapper that exits after handshake when flagged
    wrapper = tmp_path / "wrap.php"
    wrapper.write_text(
        "<?php\n"
        f"if (file_exists('{flag}')) {{ fwrite(STDERR, \"dying\\n\"); exit(1); }}\n"
        f"require '{PHP_FIXTURES / 'pool_worker.php'}';\n")
    spawned = 0
    p = make_pool(command=["php", str(wrapper)], num_workers=1, allocate_timeout=2)
    import rr.pool.pool as poolmod

    orig = poolmod.spawn

    async def counting(*a: object, **k: object) -> object:
        nonlocal spawned
        spawned += 1
        return await orig(*a, **k)  # type: ignore[arg-type]

    poolmod.spawn = counting  # type: ignore[assignment]
    try:
        await p.start()
        flag.touch()
        for w in p.workers():
            os.kill(w.pid, signal.SIGKILL)
        await asyncio.sleep(4)
        # without back-off this would be hundreds of spawns
        assert 1 < spawned < 8, spawned
        flag.unlink()
        await wait_workers(p, 1, timeout=40)
        assert (await run(p, "echo:back")).body == b"back"
    finally:
        poolmod.spawn = orig  # type: ignore[assignment]
        await p.destroy()


async def test_allocate_timeout_and_queue_limit() -> None:
    p = make_pool(num_workers=1, allocate_timeout=0.3)
    await p.start()
    try:
        slow = asyncio.create_task(run(p, "sleep:1500"))
        await asyncio.sleep(0.1)
        with pytest.raises(NoFreeWorkersError):
            await run(p, "echo:x")
        assert (await slow).body == b"slept"
    finally:
        await p.destroy()
    q = make_pool(num_workers=1, max_queue_size=1)
    await q.start()
    try:
        slow = asyncio.create_task(run(q, "sleep:500"))
        await asyncio.sleep(0.1)
        with pytest.raises(MaxQueueSizeError):
            await run(q, "echo:x")
        await slow
    finally:
        await q.destroy()


async def test_streaming_and_stop(pool: Pool) -> None:
    async with pool.stream(Payload(b"", b"stream:3")) as frames:
        got = [f async for f in frames]
    assert [f.body for f in got] == [b"chunk0;", b"chunk1;", b"chunk2;", b"end"]
    assert got[0].context == b'{"s":1}' and got[-1].stream is False
    async with pool.stream(Payload(b"", b"stream:10")) as frames:
        async for f in frames:
            assert f.body == b"chunk0;"
            break
    # the worker was drained: the next requests get their own replies
    for i in range(4):
        assert (await run(pool, f"echo:{i}")).body == str(i).encode()
    with pytest.raises(WorkerError, match="streaming is not supported"):
        await run(pool, "stream:2")


async def test_cancelled_caller_releases_worker_after_reply() -> None:
    p = make_pool(num_workers=1)
    await p.start()
    try:
        task = asyncio.create_task(run(p, "sleep:300"))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # the worker finishes the abandoned request, its reply is dropped, and it serves again
        assert (await run(p, "echo:next")).body == b"next"
        assert p.workers()[0].to_dict()["numExecs"] == 2
        stream = asyncio.create_task(run(p, "sleep:100"))
        await asyncio.sleep(0.02)
        stream.cancel()
        assert (await run(p, "echo:again")).body == b"again"
    finally:
        await p.destroy()


async def test_destroy_waits_for_in_flight_then_refuses(pool: Pool) -> None:
    slow = asyncio.create_task(run(pool, "sleep:500"))
    await asyncio.sleep(0.1)
    await pool.destroy()
    assert (await slow).body == b"slept"
    with pytest.raises(PoolStoppedError):
        await run(pool, "echo:x")


async def test_add_and_remove_worker(pool: Pool) -> None:
    sizes: list[int] = []
    pool.on_resize = sizes.append  # the jobs plugin starts a poller for the new worker
    await pool.add_worker()
    assert len(pool.workers()) == 3 and sizes == [3]
    await pool.remove_worker()
    await pool.remove_worker()
    assert len(pool.workers()) == 1
    await pool.remove_worker()  # the last one is kept
    assert len(pool.workers()) == 1


async def test_debug_mode_fresh_worker_per_request() -> None:
    p = make_pool(debug=True)
    await p.start()
    try:
        assert p.workers() == []
        a = int((await run(p, "pid")).body)
        b = int((await run(p, "pid")).body)
        assert a != b
    finally:
        await p.destroy()


@pytest.mark.parametrize("kind", ["tcp", "unix"])
async def test_socket_relays(kind: str, tmp_path: Path) -> None:
    relay = (f"tcp://127.0.0.1:{free_port()}" if kind == "tcp"
             else f"unix://{tmp_path / 'rr.sock'}")
    sock_worker = tmp_path / "sock_worker.php"
    sock_worker.write_text(SOCKET_WORKER)
    p = make_pool(command=["php", str(sock_worker)], relay=relay)
    p.env["RR_RELAY"] = relay
    await p.start()
    try:
        assert len(p.workers()) == 2
        replies = await asyncio.gather(*(run(p, f"echo:{i}") for i in range(20)))
        assert [r.body for r in replies] == [f"{i}".encode() for i in range(20)]
        w = p.workers()[0]
        os.kill(w.pid, signal.SIGKILL)
        await asyncio.sleep(0.3)
        await wait_workers(p, 2)
        assert (await run(p, "echo:after")).body == b"after"
    finally:
        await p.destroy()
    if kind == "unix":
        assert parse_address(relay)[1].endswith("rr.sock")


async def test_socket_relay_holds_an_early_connection_and_drops_strangers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker may connect and name its pid before its spawner expects it (a loaded
    loop): the connection is held for the spawner; one nobody claims is closed."""
    import json
    import logging

    from rr.goridge import frame as fr
    from rr.pool import spawn

    monkeypatch.setattr(spawn, "PARK_SECONDS", 0.5)
    relay = await spawn.SocketRelay.get(f"tcp://127.0.0.1:{free_port()}",
                                        logging.getLogger("test"))
    host, port = parse_address(relay.address)[1]

    async def hello(pid: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection(host, port)
        await reader.read(64)  # the server's pid request
        writer.write(fr.encode(json.dumps({"pid": pid}).encode(), fr.CONTROL | fr.CODEC_JSON))
        await writer.drain()
        return reader, writer

    try:
        _, early = await hello(424242)
        stranger_reader, stranger = await hello(434343)
        await asyncio.sleep(0.1)
        claimed = relay.expect(424242)
        assert claimed.done()  # handed over at once
        # nobody expects the other one: closed after PARK_SECONDS
        assert await asyncio.wait_for(stranger_reader.read(1), 5) == b""
        assert 434343 not in relay.parked and not claimed.result()[0].is_closing()
        early.close()
        stranger.close()
    finally:
        await relay.release()


SOCKET_WORKER = r"""<?php
$relay = getenv('RR_RELAY');
if (str_starts_with($relay, 'unix://')) {
    $s = stream_socket_client('unix://' . substr($relay, 7));
} else {
    $s = stream_socket_client($relay);
}
function frame(string $p, int $flags = 0, array $o = []): string {
    $head = pack('CCV', 0x10 | (3 + count($o)), $flags, strlen($p));
    $out = $head . pack('V', crc32($head)) . "\0\0";
    foreach ($o as $x) { $out .= pack('V', $x); }
    return $out . $p;
}
function readn($s, int $n): ?string {
    $b = '';
    while (strlen($b) < $n) {
        $c = fread($s, $n - strlen($b));
        if ($c === false || $c === '') return null;
        $b .= $c;
    }
    return $b;
}
while (true) {
    $h = readn($s, 12); if ($h === null) exit(0);
    $hl = ord($h[0]) & 15; $flags = ord($h[1]); $len = unpack('V', substr($h, 2, 4))[1];
    $rest = readn($s, ($hl - 3) * 4 + $len); if ($rest === null) exit(0);
    $opts = $hl > 3 ? array_values(unpack('V*', substr($rest, 0, ($hl - 3) * 4))) : [];
    $p = substr($rest, ($hl - 3) * 4);
    if ($flags & 1) {
        $c = json_decode($p, true);
        if (!empty($c['stop'])) exit(0);
        fwrite($s, frame(json_encode(['pid' => getmypid()]), 1));
        continue;
    }
    $body = substr($p, $opts[0]);
    $out = str_starts_with($body, 'echo:') ? substr($body, 5) : $body;
    fwrite($s, frame($out, 0, [0]));
}
"""


async def test_two_frames_per_request_never_reach_another_caller() -> None:
    """Straight through Pool.exec, as every plugin uses it: respond-then-error and
    error-then-respond at 24-way concurrency; each caller gets its own reply or error."""
    p = make_pool(num_workers=3)
    await p.start()
    try:
        ops = ["rte", "etr", "echo", "echo", "echo"]

        async def one(i: int) -> tuple[int, str, str]:
            op = ops[i % len(ops)]
            try:
                return i, op, (await run(p, f"{op}:r{i}")).body.decode()
            except SoftJobError as e:
                return i, op, e.message

        sem = asyncio.Semaphore(24)

        async def limited(i: int) -> tuple[int, str, str]:
            async with sem:
                return await one(i)

        results = await asyncio.gather(*(limited(i) for i in range(3000)))
        bad = [(i, op, got) for i, op, got in results
               if got not in ((f"r{i}", f"failed r{i}") if op == "etr" else (f"r{i}",))]
        assert not bad, bad[:5]
        assert len(p.workers()) == 3
    finally:
        await p.destroy()
