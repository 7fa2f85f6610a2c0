"""Jobs throughput: N jobs pushed over RPC (jobs.PushBatch) and consumed on the memory
driver by 2 PHP workers, end to end, beside the bare pipe round-trip rate of the same
machine in the same run (2 PHP workers driven by the pool directly).

    python bench/jobs.py [N] [batch]

Ratios matter more than absolute numbers on a shared machine.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# bench/ holds sibling scripts (http.py, ...) that would shadow stdlib modules
sys.path[:] = [p for p in sys.path if Path(p or '.').resolve() != ROOT / 'bench']
sys.path.insert(0, str(ROOT))

from rr.app import App  # noqa: E402
from rr.config import Config  # noqa: E402
from rr.goridge.frame import CODEC_RAW  # noqa: E402
from rr.goridge.rpc import RPCClient  # noqa: E402
from rr.jobs.proto import jobs_pb2 as pb  # noqa: E402
from rr.pool.payload import Payload  # noqa: E402
from tests.helpers import RRProcess, free_port  # noqa: E402

ECHO = f"php {ROOT / 'tests' / 'php' / 'jobs_echo.php'}"


async def pipe_rate(n: int) -> float:
    """Round trips/s of 2 workers with 4 concurrent senders (no jobs core involved)."""
    app = App(Config({"server": {"command": ECHO}, "jobs": {"pool": {"num_workers": 2}}}))
    pool = app.make_pool("bench", app.config.section("jobs.pool"), mode="jobs")
    await pool.start()
    ctx = b'{"id":"x","job":"J","driver":"memory","headers":{},"pipeline":"p"}'
    per = n // 4

    async def sender() -> None:
        for _ in range(per):
            await pool.exec(Payload(ctx, b"payload", CODEC_RAW))

    await sender()  # warm up
    t0 = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(4)))
    dt = time.perf_counter() - t0
    await pool.destroy()
    return per * 4 / dt


def e2e_rate(n: int, batch: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        address = f"tcp://127.0.0.1:{free_port()}"
        rr = RRProcess(f"""
version: "3"
rpc:
  listen: {address}
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
      config:
        priority: 10
""", Path(tmp))
        with rr, RPCClient(address, timeout=120) as c:
            batches = []
            for start in range(0, n, batch):
                req = pb.PushBatchRequest()
                for i in range(start, min(n, start + batch)):
                    req.jobs.add(job="App\\Jobs\\Bench", id=str(uuid.uuid4()),
                                 payload=b'{"n":%d}' % i, options=pb.Options(pipeline="bench"))
                batches.append(req)
            t0 = time.perf_counter()
            for req in batches:
                c.call_proto("jobs.PushBatch", req)
            pushed = time.perf_counter() - t0
            while True:
                st = c.call_proto("jobs.Stat", pb.Empty(), pb.Stats).stats[0]
                if st.active == 0:
                    break
                time.sleep(0.005)
            total = time.perf_counter() - t0
        return n / pushed, n / total


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    try:
        import uvloop

        bare = uvloop.run(pipe_rate(min(n, 100_000)))
    except ImportError:
        bare = asyncio.run(pipe_rate(min(n, 100_000)))
    push, e2e = e2e_rate(n, batch)
    print(f"jobs={n} batch={batch} workers=2")
    print(f"bare pipe round trips : {bare:10.0f} /s")
    print(f"push (PushBatch RPC)  : {push:10.0f} jobs/s")
    print(f"end to end (memory)   : {e2e:10.0f} jobs/s  ({e2e / bare:.0%} of the pipe rate)")


if __name__ == "__main__":
    main()
