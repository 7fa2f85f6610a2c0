"""gRPC unary calls through rr into PHP beside the same PHP handler behind rr's HTTP
plugin, in one run, for 2 and 4 workers: rr's native front and the grpcio front.

    python bench/grpc.py [--workers 2,4] [--duration 12] [--rounds 4] [--concurrency 32]
                         [--bare] [--processes 1,2]

gRPC load: h2load (nghttp2-client) posting a 5-byte-prefixed Echo/Ping message over
4 connections × concurrency/4 streams; HTTP/1.1 load: wrk with the same number of
connections, against the rr process that serves the native gRPC row. The three rows
take turns in ``--rounds`` slices, so a change in the shared machine's load hits each
alike; p50 is the median of the slices, p99 the worst slice. ``--bare`` adds
a bare grpcio server (no rr, no PHP) under the same load: grpcio's own ceiling.
Prints calls/s, p50/p99 (from h2load's per-request log and wrk's latency
distribution), the gRPC/HTTP ratio and the CPU time rr and its PHP workers spent per call.
``--processes 1,2`` adds a native row per value above 1 with ``grpc.processes`` set (the
same workers split over the front processes); "rr CPU" counts rr and its fronts.
The machine is shared: compare the ratios of one run, not absolute numbers.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

# this file is named grpc.py: keep its directory off the path so ``import grpc`` finds grpcio
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import grpc  # noqa: E402
import psutil  # noqa: E402

# bench/http.py's helpers, loaded under another name (``http`` is the stdlib's)
_spec = importlib.util.spec_from_file_location("bench_http", Path(__file__).with_name("http.py"))
assert _spec is not None and _spec.loader is not None
bench_http = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_http)
free_port, stop, wait_port, wrk = (bench_http.free_port, bench_http.stop, bench_http.wait_port,
                                   bench_http.wrk)

ROOT = Path(__file__).resolve().parent.parent
PROTO = ROOT / "php" / "examples" / "grpc" / "echo.proto"
PATH = "/rr.example.echo.v1.Echo/Ping"
HELLO = b"\x0a\x05hello"  # Message{msg: "hello"}


def start_rr(tmp: Path, workers: int, front: str = "native", processes: int = 1
             ) -> tuple[subprocess.Popen[bytes], int, int]:
    http_port, grpc_port = free_port(), free_port()
    cfg = tmp / f"rr-{workers}-{front}-{processes}.yaml"
    cfg.write_text(f"""version: "3"
server:
  command: "php {ROOT / 'bench' / 'php' / 'grpc_hello.php'}"
  env:
    RR_PHP_LIB: {ROOT / 'php'}
logs:
  mode: production
  level: warn
http:
  address: 127.0.0.1:{http_port}
  pool:
    num_workers: {workers}
grpc:
  listen: tcp://127.0.0.1:{grpc_port}
  server: {front}
  processes: {processes}
  proto: ["{PROTO}"]
  pool:
    num_workers: {workers}
""")
    proc = subprocess.Popen([sys.executable, "-m", "rr", "serve", "-c", str(cfg)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(http_port)
    wait_port(grpc_port)
    time.sleep(1.0)
    return proc, http_port, grpc_port


# grpcio alone: the same listener stack answering Ping from Python without PHP, rr or a
# pool -- the ceiling any grpcio-based server reaches on this machine
BARE_SERVER = """
import asyncio, sys, grpc, uvloop
REPLY = b"\\x0a\\x0dHello, world!"
async def ping(request, context):
    return REPLY
class Handler(grpc.GenericRpcHandler):
    def service(self, details):
        return grpc.unary_unary_rpc_method_handler(ping)
async def main():
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((Handler(),))
    server.add_insecure_port("127.0.0.1:" + sys.argv[1])
    await server.start()
    await server.wait_for_termination()
uvloop.run(main())
"""


def start_bare() -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {**os.environ, "GRPC_ENABLE_FORK_SUPPORT": "false", "GRPC_VERBOSITY": "ERROR"}
    proc = subprocess.Popen([sys.executable, "-c", BARE_SERVER, str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return proc, port


def check_grpc(port: int) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        got = ch.unary_unary(PATH)(HELLO, timeout=10)
    assert got == b"\x0a\x0dHello, world!", got


def h2load(port: int, duration: int, concurrency: int, tmp: Path
           ) -> tuple[tuple[float, float, float], int]:
    """(calls/s, p50 ms, p99 ms) and the number of calls completed."""
    data = tmp / "ping.bin"
    data.write_bytes(b"\x00" + len(HELLO).to_bytes(4, "big") + HELLO)
    log = tmp / "h2load.log"
    clients = 4
    out = subprocess.run(
        ["h2load", "-c", str(clients), "-t", "2", "-m", str(max(1, concurrency // clients)),
         "-D", str(duration), "--warm-up-time", "1", "-d", str(data), "--log-file", str(log),
         "-H", "content-type: application/grpc", "-H", "te: trailers",
         f"http://127.0.0.1:{port}{PATH}"], capture_output=True, text=True, check=True).stdout
    m = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded", out)
    if not m or m.group(2) != m.group(3):
        raise RuntimeError(f"h2load reported failures:\n{out}")
    rate = float(re.search(r"finished in [\d.]+s, ([\d.]+) req/s", out).group(1))  # type: ignore[union-attr]
    times = sorted(int(line.split()[2]) / 1000.0 for line in log.read_text().splitlines()
                   if line.strip())
    q = statistics.quantiles(times, n=100)
    return (rate, q[49], q[98]), int(m.group(3))


def measure(proc: psutil.Process, fn, *args):  # type: ignore[no-untyped-def]
    """fn's result, the CPU seconds of ``proc`` with its front processes and those of the
    rest of its children (the PHP workers) while it ran."""
    rr, php = bench_http.rr_processes(proc)
    cpu = bench_http.cpu_seconds
    before, before_php = cpu(rr), cpu(php)
    result = fn(*args)
    return result, cpu(rr) - before, cpu(php) - before_php


@dataclass
class Tally:
    """One row summed over the rounds: calls, seconds of load, CPU of rr and of PHP."""

    calls: int = 0
    seconds: float = 0.0
    cpu: float = 0.0
    php: float = 0.0
    p50: list[float] = field(default_factory=list)
    p99: float = 0.0

    def add(self, measured: tuple[tuple[tuple[float, float, float], int], float, float]) -> None:
        ((rate, p50, p99), calls), cpu, php = measured
        self.calls += calls
        self.seconds += calls / rate
        self.cpu += cpu
        self.php += php
        self.p50.append(p50)
        self.p99 = max(self.p99, p99)

    @property
    def rate(self) -> float:
        return self.calls / self.seconds

    def row(self, workers: object, transport: str, ratio: str = "") -> None:
        p50 = statistics.median(self.p50)
        print(f"{workers!s:>7} {transport:>15} {self.rate:>9.0f} {p50:>8.2f} {self.p99:>8.2f} "
              f" {self.cpu / self.calls * 1e6:>10.1f}µs "
              f"{self.php / self.calls * 1e6:>10.1f}µs {ratio:>9}", flush=True)


def one_worker_count(tmp: Path, workers: int, args: argparse.Namespace) -> None:
    """HTTP, native gRPC and grpcio gRPC in turns (``--rounds`` slices each), so a change
    in the machine's load hits every row alike."""
    procs = {front: start_rr(tmp, workers, front) for front in ("native", "grpcio")}
    extra = {f"native x{n}": start_rr(tmp, workers, "native", n)
             for n in args.processes if n > 1 and n <= workers}
    procs.update(extra)
    rows = {name: Tally() for name in ("http/1.1", "grpc native", "grpc grpcio",
                                       *(f"grpc {k}" for k in extra))}
    slice_s = max(2, args.duration // args.rounds)
    try:
        for _, _, grpc_port in procs.values():
            check_grpc(grpc_port)
        native, http_port, native_port = procs["native"]
        grpcio, _, grpcio_port = procs["grpcio"]
        for _ in range(args.rounds):
            rows["http/1.1"].add(measure(psutil.Process(native.pid), wrk,
                                         f"http://127.0.0.1:{http_port}/", f"{slice_s}s",
                                         args.concurrency, True))
            rows["grpc native"].add(measure(psutil.Process(native.pid), h2load, native_port,
                                            slice_s, args.concurrency, tmp))
            rows["grpc grpcio"].add(measure(psutil.Process(grpcio.pid), h2load, grpcio_port,
                                            slice_s, args.concurrency, tmp))
            for name, (proc, _, port) in extra.items():
                rows[f"grpc {name}"].add(measure(psutil.Process(proc.pid), h2load, port,
                                                 slice_s, args.concurrency, tmp))
    finally:
        stop([p for p, _, _ in procs.values()])
    http = rows["http/1.1"].rate
    for name, tally in rows.items():
        tally.row(workers, name, "" if name == "http/1.1" else f"{tally.rate / http:.2f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", default="2,4")
    ap.add_argument("--duration", type=int, default=12, help="seconds of load per row")
    ap.add_argument("--rounds", type=int, default=4, help="turns the rows take")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--bare", action="store_true",
                    help="also a bare grpcio server (no rr, no PHP): grpcio's own ceiling")
    ap.add_argument("--processes", default="1",
                    help="grpc.processes values, e.g. 1,2 (a native row for each above 1)")
    args = ap.parse_args()
    args.processes = [int(n) for n in args.processes.split(",") if n]
    print(f"{'workers':>7} {'transport':>15} {'calls/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'rr CPU/call':>12} {'PHP CPU/call':>12} {'grpc/http':>9}")
    with tempfile.TemporaryDirectory(prefix="rr-bench-grpc-") as tmp_s:
        tmp = Path(tmp_s)
        for workers in (int(w) for w in args.workers.split(",")):
            one_worker_count(tmp, workers, args)
        if args.bare:
            bare, port = start_bare()
            bare_row = Tally()
            try:
                check_grpc(port)
                bare_row.add(measure(psutil.Process(bare.pid), h2load, port, args.duration,
                                     args.concurrency, tmp))
            finally:
                stop([bare])
            bare_row.row("-", "bare grpcio", "(no rr, no PHP)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
