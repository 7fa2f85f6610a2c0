"""Lock throughput: acquire/release pairs per second over RPC from PHP loops
(RR\\Lock\\Lock, protobuf codec), beside the same PHP loop calling a no-op RPC method
(rpc.Version) against the same `rr serve` in the same run.

    python bench/lock.py [N] [ROUNDS]

A pair is two RPC round trips, so `calls/s` is the figure to hold against the no-op
line. Each scenario runs ROUNDS times, each time right after a no-op run with the same
number of PHP processes; `vs no-op` is the median of calls/s over that no-op's calls/s
(the rates shown are medians too). Ratios matter more than absolute numbers on a shared
machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or '.').resolve() != ROOT / 'bench']
sys.path.insert(0, str(ROOT))

from tests.helpers import RRProcess, free_port  # noqa: E402

LOOP = ROOT / "bench" / "php" / "lock_loop.php"
# (label, mode, PHP processes, one shared resource?, RPC calls per iteration)
SCENARIOS = (
    ("lock.Exists", "exists", 1, False, 1),
    ("Lock+Release, own resource", "lock", 1, False, 2),
    ("Lock+Release, own resource", "lock", 2, False, 2),
    ("Lock+Release, one contended", "lock", 2, True, 2),
    ("LockRead+Release, one shared", "read", 2, True, 2),
)


def run(address: str, mode: str, procs: int, shared: bool, n: int) -> tuple[float, int]:
    """(iterations/s summed over the processes, failed attempts)."""
    children = [subprocess.Popen(
        ["php", str(LOOP), address, mode, str(n), "res" if shared else f"res{i}"],
        stdout=subprocess.PIPE, text=True) for i in range(procs)]
    results = [json.loads(c.communicate(timeout=600)[0]) for c in children]
    seconds = max(r["seconds"] for r in results)
    return procs * n / seconds, sum(r["failed"] for r in results)


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    with tempfile.TemporaryDirectory() as tmp:
        address = f"tcp://127.0.0.1:{free_port()}"
        rr = RRProcess(f"""
version: "3"
rpc:
  listen: {address}
logs:
  level: error
""", Path(tmp))
        with rr:
            run(address, "lock", 1, False, 500)  # warm up
            print(f"{'loop':30} {'php':>3} {'no-op/s':>9} {'iter/s':>9} {'calls/s':>9} "
                  f"{'vs no-op':>8} {'failed':>6}")
            for label, mode, procs, shared, calls in SCENARIOS:
                base, rates, ratios, failed = [], [], [], 0
                for _ in range(rounds):
                    b, _f = run(address, "noop", procs, False, n)
                    rate, f = run(address, mode, procs, shared, n)
                    base.append(b)
                    rates.append(rate)
                    ratios.append(rate * calls / b)
                    failed += f
                rate = median(rates)
                print(f"{label:30} {procs:>3} {median(base):>9.0f} {rate:>9.0f} "
                      f"{rate * calls:>9.0f} {median(ratios):>8.2f} {failed:>6}")


if __name__ == "__main__":
    main()
