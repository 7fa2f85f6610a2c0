"""rr's own memory: RSS of the server process and of its PHP workers, idle and with
idle keep-alive connections open (per 1 000 connections).

    python bench/memory.py [--connections 1000,2000] [--workers 2] [--processes 1,2]

Each connection sends one request, reads its answer and then stays open (HTTP/1.1
keep-alive), as browsers and load balancers hold them. The figure per 1 000 connections is
the growth of the rr process's RSS from no connection to the largest count, scaled.
With ``--processes`` (``http.processes``) the rr main process and every HTTP front process
are measured apart, and the growth is that of all rr processes together (the connections
spread over the fronts).
"""

from __future__ import annotations

import argparse
import resource
import socket
import sys
import tempfile
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench.http import generate, rr_processes, start_rr, stop  # noqa: E402

REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"


def mib(n: int) -> float:
    return n / (1024 * 1024)


def keep_alive(port: int, n: int) -> list[socket.socket]:
    """``n`` connections that each had one answered request and stay open."""
    conns = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), 10)
        s.sendall(REQUEST)
        got = b""
        while b"Hello, world!" not in got:
            chunk = s.recv(4096)
            if not chunk:
                raise RuntimeError("rr closed a keep-alive connection")
            got += chunk
        conns.append(s)
    return conns


def rss(procs: list[psutil.Process]) -> list[int]:
    return [int(p.memory_info().rss) for p in procs]


def measure(tmp: Path, app: Path, workers: int, processes: int, counts: list[int]
            ) -> tuple[list[tuple[int, list[int]]], list[int]]:
    """RSS of rr's processes (main first, then the fronts) at each connection count, and
    the PHP workers' RSS."""
    procs, port = start_rr(tmp, app, "hello", workers, processes=processes)
    try:
        ours, php = rr_processes(psutil.Process(procs[0].pid))
        keep_alive(port, 50 * processes)  # warm: first requests allocate parser buffers
        rows = [(0, rss(ours))]
        open_: list[socket.socket] = []
        for c in counts:
            open_ += keep_alive(port, c - len(open_))
            rows.append((c, rss(ours)))
        for s in open_:
            s.close()
        return rows, rss(php)
    finally:
        stop(procs)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--connections", default="1000,2000")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--processes", default="1")
    args = ap.parse_args()
    counts = sorted(int(c) for c in args.connections.split(","))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = max(counts) + 256
    if soft < need:  # rr inherits the limit
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, need * 2), hard))
    for processes in (int(p) for p in args.processes.split(",") if p):
        with tempfile.TemporaryDirectory(prefix="rr-mem-") as d:
            tmp = Path(d)
            app = tmp / "app"
            generate(app)
            rows, workers = measure(tmp, app, args.workers, processes, counts)
        report(rows, workers, args.workers, processes)
    return 0


def report(rows: list[tuple[int, list[int]]], workers: list[int], n_workers: int,
           processes: int) -> None:
    top_n, top = rows[-1]
    per_k = (sum(top) - sum(rows[0][1])) / top_n * 1000
    fronts = processes if processes > 1 else 0
    print(f"rr serve with http, {n_workers} hello workers, http.processes: {processes}; "
          "RSS of rr's processes")
    head = f"{'connections':>12} {'rr main':>10}" + "".join(
        f" {'front ' + str(i):>10}" for i in range(fronts)) + f" {'rr total':>10}"
    print(head)
    for n, sizes in rows:
        print(f"{n:>12}" + "".join(f" {mib(x):7.1f}MiB" for x in sizes)
              + (f" {mib(sum(sizes)):7.1f}MiB" if fronts else f" {mib(sizes[0]):7.1f}MiB"))
    print(f"per 1000 idle keep-alive connections: {mib(int(per_k)):.2f} MiB "
          f"({per_k / 1000 / 1024:.1f} KiB each)")
    if workers:
        print(f"PHP worker RSS: {mib(min(workers)):.1f}..{mib(max(workers)):.1f} MiB "
              f"({len(workers)} workers)")


if __name__ == "__main__":
    raise SystemExit(main())
