"""rr's own memory: RSS of the server process and of its PHP workers, idle and with
idle keep-alive connections open (per 1 000 connections).

    python bench/memory.py [--connections 1000,2000] [--workers 2]

Each connection sends one request, reads its answer and then stays open (HTTP/1.1
keep-alive), as browsers and load balancers hold them. The figure per 1 000 connections is
the growth of the rr process's RSS from no connection to the largest count, scaled.
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

from bench.http import generate, start_rr, stop  # noqa: E402

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


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--connections", default="1000,2000")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    counts = sorted(int(c) for c in args.connections.split(","))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = max(counts) + 256
    if soft < need:  # rr inherits the limit
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, need * 2), hard))
    with tempfile.TemporaryDirectory(prefix="rr-mem-") as d:
        tmp = Path(d)
        app = tmp / "app"
        generate(app)
        procs, port = start_rr(tmp, app, "hello", args.workers)
        try:
            server = psutil.Process(procs[0].pid)
            keep_alive(port, 50)  # warm: first requests allocate the parser's buffers
            base = int(server.memory_info().rss)
            workers = [int(c.memory_info().rss) for c in server.children(recursive=True)]
            rows = [(0, base)]
            open_: list[socket.socket] = []
            for c in counts:
                open_ += keep_alive(port, c - len(open_))
                rows.append((c, int(server.memory_info().rss)))
            for s in open_:
                s.close()
        finally:
            stop(procs)
    top_n, top_rss = rows[-1]
    per_k = (top_rss - base) / top_n * 1000
    print(f"rr serve with http, {args.workers} hello workers; RSS of the rr process")
    print(f"{'connections':>12} {'rr RSS':>10}")
    for n, rss in rows:
        print(f"{n:>12} {mib(rss):8.1f}MiB")
    print(f"per 1000 idle keep-alive connections: {mib(int(per_k)):.2f} MiB "
          f"({per_k / 1000 / 1024:.1f} KiB each)")
    if workers:
        print(f"PHP worker RSS: {mib(min(workers)):.1f}..{mib(max(workers)):.1f} MiB "
              f"({len(workers)} workers)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
