"""What an open dashboard costs: jobs end to end (memory driver, 2 PHP workers) with no
dashboard, with the dashboard configured but no page open, and with K live-update
streams reading, in alternating rounds of the same run; plus how long one
``/api/snapshot`` takes on that server.

    python bench/dashboard.py [N] [streams] [rounds]

Ratios matter more than absolute numbers on a shared machine.
"""

from __future__ import annotations

import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# bench/ holds sibling scripts (http.py, ...) that would shadow stdlib modules
sys.path[:] = [p for p in sys.path if Path(p or '.').resolve() != ROOT / 'bench']
sys.path.insert(0, str(ROOT))

import urllib.request  # noqa: E402 - after the path fix: bench/http.py shadows http

from rr.goridge.rpc import RPCClient  # noqa: E402
from rr.jobs.proto import jobs_pb2 as pb  # noqa: E402
from tests.helpers import RRProcess, free_port  # noqa: E402

ECHO = f"php {ROOT / 'tests' / 'php' / 'jobs_echo.php'}"


def config(rpc: str, dashboard_port: int | None) -> str:
    dash = f"dashboard:\n  address: 127.0.0.1:{dashboard_port}\n" if dashboard_port else ""
    return f"""
version: "3"
rpc:
  listen: {rpc}
server:
  command: "{ECHO}"
logs:
  level: error
jobs:
  pool:
    num_workers: 2
  consume: [bench]
  pipelines:
    bench:
      driver: memory
{dash}"""


def run_jobs(address: str, n: int) -> float:
    with RPCClient(address, timeout=120) as c:
        t0 = time.perf_counter()
        for start in range(0, n, 1000):
            req = pb.PushBatchRequest()
            for i in range(start, min(n, start + 1000)):
                req.jobs.add(job="Bench", id=str(uuid.uuid4()), payload=b'{"n":%d}' % i,
                             options=pb.Options(pipeline="bench"))
            c.call_proto("jobs.PushBatch", req)
        while c.call_proto("jobs.Stat", pb.Empty(), pb.Stats).stats[0].active:
            time.sleep(0.005)
        return n / (time.perf_counter() - t0)


def stream(port: int, stop: threading.Event, events: list[int]) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET /api/events HTTP/1.1\r\nHost: bench\r\n\r\n")
        f = sock.makefile("rb")
        while not stop.is_set():
            if f.readline().startswith(b"data: "):
                events.append(1)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 30_000
    k = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    rates: dict[str, list[float]] = {"no dashboard": [], "dashboard, no page": [],
                                     f"dashboard, {k} streams": []}
    snapshot_ms: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        servers = {}
        for i, name in enumerate(rates):
            rpc, port = f"tcp://127.0.0.1:{free_port()}", free_port()
            work = Path(tmp) / str(i)
            work.mkdir()
            rr = RRProcess(config(rpc, None if i == 0 else port), work)
            stack.enter_context(rr)
            servers[name] = (rpc, port)
        for rpc, _ in servers.values():
            run_jobs(rpc, min(n, 5000))  # warm up
        for _ in range(rounds):
            for name, (rpc, port) in servers.items():
                stop, events = threading.Event(), []
                threads = [threading.Thread(target=stream, args=(port, stop, events),
                                            daemon=True) for _ in range(k)] \
                    if "streams" in name else []
                for t in threads:
                    t.start()
                time.sleep(1.5 if threads else 0)
                rates[name].append(run_jobs(rpc, n))
                stop.set()
        _, port = servers["dashboard, no page"]
        for _ in range(30):
            t0 = time.perf_counter()
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/snapshot").read()
            snapshot_ms.append((time.perf_counter() - t0) * 1000)
    base = statistics.median(rates["no dashboard"])
    print(f"jobs={n} workers=2 rounds={rounds} (medians)")
    for name, values in rates.items():
        rate = statistics.median(values)
        print(f"{name:22}: {rate:9.0f} jobs/s  ({rate / base:.0%} of no dashboard)")
    print(f"GET /api/snapshot     : {statistics.median(snapshot_ms):9.2f} ms median, "
          f"{max(snapshot_ms):.2f} ms max")


if __name__ == "__main__":
    main()
