"""Round trips/s of a tiny echo through the worker pool, beside bare-minimum drivers.

All drivers talk to the same PHP script (bench/php/echo_worker.php) over pipes, in one
run, so the ratio is the figure (absolute numbers drift a lot on a shared machine):

* ``blocking``: one OS thread per worker doing write(frame) / read(reply) with no
  framework at all — the floor of what pipes + PHP can do from Python;
* ``bare-asyncio``: the same exchange with a minimal asyncio protocol per worker;
* ``pool``: rr's Pool.exec (FIFO hand-out, state machine, limits) on the same loop.

Usage: python bench/pipes.py [--seconds 5] [--workers 1 2] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rr.goridge import frame as fr  # noqa: E402
from rr.pool.config import PoolConfig  # noqa: E402
from rr.pool.payload import Payload  # noqa: E402
from rr.pool.pool import Pool  # noqa: E402

WORKER = ["php", str(Path(__file__).resolve().parent / "php" / "echo_worker.php")]
REQUEST = fr.encode_payload(b"", b"ping")


def _read_frame(fd: int) -> bytes:
    head = b""
    while len(head) < 12:
        chunk = os.read(fd, 12 - len(head))
        if not chunk:
            raise EOFError
        head += chunk
    hl = head[0] & 0x0F
    (length,) = struct.unpack_from("<I", head, 2)
    need = (hl - 3) * 4 + length
    rest = b""
    while len(rest) < need:
        chunk = os.read(fd, need - len(rest))
        if not chunk:
            raise EOFError
        rest += chunk
    return head + rest


def _handshake(proc: subprocess.Popen[bytes]) -> None:
    assert proc.stdin and proc.stdout
    os.write(proc.stdin.fileno(), fr.encode(json.dumps({"pid": os.getpid()}).encode(),
                                            fr.CONTROL | fr.CODEC_JSON))
    _read_frame(proc.stdout.fileno())


def bench_blocking(workers: int, seconds: float) -> float:
    procs = [subprocess.Popen(WORKER, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
             for _ in range(workers)]
    for p in procs:
        _handshake(p)
    counts = [0] * workers
    stop = time.monotonic() + seconds

    def loop(i: int) -> None:
        p = procs[i]
        assert p.stdin and p.stdout
        wfd, rfd = p.stdin.fileno(), p.stdout.fileno()
        n = 0
        while time.monotonic() < stop:
            for _ in range(100):
                os.write(wfd, REQUEST)
                _read_frame(rfd)
            n += 100
        counts[i] = n

    start = time.monotonic()
    threads = [threading.Thread(target=loop, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    for p in procs:
        p.kill()
        p.wait()
    return sum(counts) / elapsed


class BarePipe(asyncio.SubprocessProtocol):
    """One PHP worker over pipes with nothing but framing: write a frame, wait for one
    reply frame (also the workers of bench/raw_with_workers.py)."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.waiter: asyncio.Future[None] | None = None
        self.transport: asyncio.SubprocessTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        if fd != 1:
            return
        self.buf += data
        while len(self.buf) >= 12:
            hl = self.buf[0] & 0x0F
            (length,) = struct.unpack_from("<I", self.buf, 2)
            end = 12 + (hl - 3) * 4 + length
            if len(self.buf) < end:
                return
            del self.buf[:end]
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_result(None)

    async def exchange(self, data: bytes) -> None:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.get_pipe_transport(0).write(data)  # type: ignore[union-attr]
        await self.waiter


async def bench_bare(workers: int, seconds: float) -> float:
    loop = asyncio.get_running_loop()
    chans = []
    for _ in range(workers):
        t, p = await loop.subprocess_exec(BarePipe, *WORKER, stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, stderr=None)
        chans.append((t, p))
    hs = fr.encode(json.dumps({"pid": os.getpid()}).encode(), fr.CONTROL | fr.CODEC_JSON)
    for _, p in chans:
        await p.exchange(hs)
    stop = time.monotonic() + seconds
    counts = [0] * workers

    async def run(i: int) -> None:
        p = chans[i][1]
        n = 0
        while time.monotonic() < stop:
            for _ in range(100):
                await p.exchange(REQUEST)
            n += 100
        counts[i] = n

    start = time.monotonic()
    await asyncio.gather(*(run(i) for i in range(workers)))
    elapsed = time.monotonic() - start
    for t, _ in chans:
        t.kill()
        t.close()
    return sum(counts) / elapsed


async def bench_pool(workers: int, seconds: float, concurrency: int) -> float:
    cfg = PoolConfig(num_workers=workers, allocate_timeout=30)
    pool = Pool("bench", cfg, WORKER, dict(os.environ))
    await pool.start()
    stop = time.monotonic() + seconds
    counts = [0] * concurrency
    payload = Payload(b"", b"ping")

    async def run(i: int) -> None:
        n = 0
        while time.monotonic() < stop:
            for _ in range(100):
                await pool.exec(payload)
            n += 100
        counts[i] = n

    start = time.monotonic()
    await asyncio.gather(*(run(i) for i in range(concurrency)))
    elapsed = time.monotonic() - start
    await pool.destroy(timeout=1)
    return sum(counts) / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    args = ap.parse_args()
    if args.loop == "uvloop":
        import uvloop

        runner = uvloop.run
    else:
        runner = asyncio.run
    print(f"echo round trips/s over pipes ({args.loop}, {args.seconds:.0f}s each, "
          f"pool concurrency {args.concurrency}, {os.cpu_count()} cores)")
    print(f"{'workers':>7} {'blocking':>10} {'bare-asyncio':>13} {'pool':>10} "
          f"{'pool/blocking':>14} {'pool/bare':>10}")
    for n in args.workers:
        blocking = bench_blocking(n, args.seconds)
        bare = runner(bench_bare(n, args.seconds))
        pool = runner(bench_pool(n, args.seconds, args.concurrency))
        print(f"{n:>7} {blocking:>10.0f} {bare:>13.0f} {pool:>10.0f} "
              f"{pool / blocking:>14.2f} {pool / bare:>10.2f}")


if __name__ == "__main__":
    main()
