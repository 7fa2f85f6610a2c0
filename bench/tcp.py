"""tcp request/response round trips/s through rr and 2 PHP workers, beside a bare asyncio
echo server, in one run (the ratio is the figure; absolute numbers drift).

* ``bare-asyncio``: a uvloop echo server in its own process — the ceiling for a Python
  server answering on this machine, with no PHP at all;
* ``rr tcp``: `rr serve` with one tcp server and 2 workers of bench/php/tcp_echo.php;
  every message is a DATA event, a fenced pool exchange, and a WRITE reply.

A second table isolates the cost of the fence (rr/pool/fence.py): Pool.exec against
Pool.exec_fenced on the same 2 workers, in this process.

    python bench/tcp.py [--seconds 5] [--connections 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rr.pool.config import PoolConfig  # noqa: E402
from rr.pool.payload import Payload  # noqa: E402
from rr.pool.pool import Pool  # noqa: E402

WORKER = f"php {ROOT / 'bench' / 'php' / 'tcp_echo.php'}"
MESSAGE = b"ping " + b"x" * 58 + b"\r\n"  # 64 bytes

BARE_SERVER = """
import asyncio, sys
try:
    import uvloop
except ImportError:
    uvloop = None

class Echo(asyncio.Protocol):
    def connection_made(self, t): self.t = t
    def data_received(self, d): self.t.write(d)

async def main():
    srv = await asyncio.get_running_loop().create_server(Echo, "127.0.0.1", int(sys.argv[1]))
    print("ready", flush=True)
    await srv.serve_forever()

(uvloop.run if uvloop else asyncio.run)(main())
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {port}")


class PingPong(asyncio.Protocol):
    """One connection: send, wait for the full echo, send again until the deadline."""

    def __init__(self, deadline: float, done: asyncio.Future[int]) -> None:
        self.deadline = deadline
        self.done = done
        self.count = 0
        self.got = 0
        self.t: asyncio.Transport | None = None

    def connection_made(self, t: asyncio.BaseTransport) -> None:
        self.t = t  # type: ignore[assignment]
        self.t.write(MESSAGE)  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        self.got += len(data)
        if self.got < len(MESSAGE):
            return
        self.got = 0
        self.count += 1
        if time.monotonic() < self.deadline:
            self.t.write(MESSAGE)  # type: ignore[union-attr]
        elif not self.done.done():
            self.done.set_result(self.count)
            self.t.close()  # type: ignore[union-attr]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(self.count)


async def drive(port: int, seconds: float, connections: int) -> float:
    loop = asyncio.get_running_loop()
    start = time.monotonic()
    deadline = start + seconds
    futures = []
    for _ in range(connections):
        fut: asyncio.Future[int] = loop.create_future()
        await loop.create_connection(lambda f=fut: PingPong(deadline, f), "127.0.0.1", port)
        futures.append(fut)
    counts = await asyncio.gather(*futures)
    return sum(counts) / (time.monotonic() - start)


def run_client(port: int, seconds: float, connections: int) -> float:
    try:
        import uvloop

        return float(uvloop.run(drive(port, seconds, connections)))
    except ImportError:  # pragma: no cover
        return asyncio.run(drive(port, seconds, connections))


def bare(seconds: float, connections: int) -> float:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", BARE_SERVER, str(port)],
                            stdout=subprocess.PIPE)
    try:
        wait_port(port)
        return run_client(port, seconds, connections)
    finally:
        proc.terminate()
        proc.wait(10)


def rr_tcp(seconds: float, connections: int, workers: int) -> float:
    port, rpc = free_port(), free_port()
    with tempfile.TemporaryDirectory() as d:
        cfg = Path(d) / ".rr.yaml"
        cfg.write_text(f'version: "3"\nserver:\n  command: "{WORKER}"\n'
                       f"rpc:\n  listen: tcp://127.0.0.1:{rpc}\nlogs:\n  level: error\n"
                       f"tcp:\n  servers:\n    bench:\n      addr: 127.0.0.1:{port}\n"
                       f"  pool:\n    num_workers: {workers}\n")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen([sys.executable, "-m", "rr", "serve", "-c", str(cfg)],
                                cwd=d, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            wait_port(port)
            run_client(port, 1.0, connections)  # warm-up
            return run_client(port, seconds, connections)
        finally:
            proc.terminate()
            proc.wait(30)


async def pool_rates(seconds: float, concurrency: int, workers: int) -> tuple[float, float]:
    """exec vs exec_fenced round trips/s with the tcp echo worker (DATA contexts)."""
    env = {**os.environ, "RR_MODE": "tcp"}
    pool = Pool("bench", PoolConfig(num_workers=workers), WORKER.split(" "), env)
    await pool.start()
    ctx = json.dumps({"remote_addr": "127.0.0.1:1", "server": "bench",
                      "uuid": "0" * 36, "event": "DATA"}, separators=(",", ":")).encode()
    payload = Payload(ctx, MESSAGE)

    async def rate(fenced: bool) -> float:
        count = 0
        deadline = time.monotonic() + seconds

        async def one() -> None:
            nonlocal count
            while time.monotonic() < deadline:
                await (pool.exec_fenced(payload) if fenced else pool.exec(payload))
                count += 1

        start = time.monotonic()
        await asyncio.gather(*(one() for _ in range(concurrency)))
        return count / (time.monotonic() - start)

    try:
        await rate(False)  # warm-up
        return await rate(False), await rate(True)
    finally:
        await pool.destroy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    b = bare(args.seconds, args.connections)
    r = rr_tcp(args.seconds, args.connections, args.workers)
    print(f"tcp echo round trips/s, {args.connections} connections, {args.seconds:.0f}s each, "
          f"64-byte messages")
    print(f"{'bare-asyncio':>13} {'rr tcp (' + str(args.workers) + ' php)':>16} {'rr/bare':>8}")
    print(f"{b:>13.0f} {r:>16.0f} {r / b:>8.2f}")
    try:
        import uvloop

        plain, fenced = uvloop.run(pool_rates(args.seconds, args.connections, args.workers))
    except ImportError:  # pragma: no cover
        plain, fenced = asyncio.run(pool_rates(args.seconds, args.connections, args.workers))
    print(f"\npool round trips/s, {args.workers} workers, {args.connections} concurrent")
    print(f"{'exec':>10} {'exec_fenced':>12} {'fenced/exec':>12}")
    print(f"{plain:>10.0f} {fenced:>12.0f} {fenced / plain:>12.2f}")


if __name__ == "__main__":
    main()
