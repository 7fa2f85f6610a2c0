"""Jobs throughput per driver, end to end, beside the raw broker client in the same run.

For each driver: start `rr serve` with one paused pipeline and 2 PHP workers that ack
every job (tests/php/jobs_echo.php), push N jobs with jobs.PushBatch over RPC (timed:
the push rate), then jobs.Resume and wait until the jobs core counted N acked jobs
(``rr_jobs_jobs_ok`` on the metrics endpoint; timed from the first ack: the consume
rate). Then two yardsticks without rr, on N fresh messages each:

* raw client: the broker's client library consumes + acks with no work per message
  (bench/raw_clients.py; kafka/sqs from bench/raw_clients_kafka_sqs.py);
* raw + workers: the same client feeding the same two PHP workers over pipes, in the
  leanest correct loop (bench/raw_with_workers.py) - the trip each job makes through rr,
  minus rr.

"rr / raw" is what the whole trip costs next to the client alone; for bulk-fetching
brokers (redis, kafka) that is mostly the PHP round trip. "rr / raw+w" is what rr itself
costs on top of the client and the workers. "CPU µs/job" is the CPU time rr (or the bare
loop's process) spent per consumed job: steadier than the rates on a shared machine.

    python bench/drivers.py [N] [driver ...] [--repeat R]   # default N=5000, all drivers, R=1

Absolute numbers drift a lot on a shared machine; compare the columns of one run.
SQS (moto_server) is slow by itself (~70 msgs/s): it runs with N/20 jobs.
"""

from __future__ import annotations

import importlib
import inspect
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# bench/ holds sibling scripts (http.py, ...) that would shadow stdlib modules
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from rr.goridge.rpc import RPCClient  # noqa: E402
from rr.jobs.proto import jobs_pb2 as pb  # noqa: E402
from tests.helpers import RRProcess, free_port  # noqa: E402

ACKER = f"php {ROOT / 'tests' / 'php' / 'jobs_echo.php'}"
RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/"
REDIS = ("127.0.0.1", 6379)


@dataclass
class Target:
    name: str
    #: (pipeline config, top-level connection sections) for a unique pipeline name
    config: Callable[[str], tuple[dict[str, Any], dict[str, Any]]]
    #: raw client consume+ack rate for n messages, or None when not available
    raw: Callable[[int], Any] | None
    #: fraction of N used (slow brokers)
    scale: float = 1.0
    #: the same client feeding two bare PHP workers: (jobs/s, CPU µs/job) for n messages
    raw_workers: Callable[[int], Any] | None = None


def kafka_address() -> str:
    from tests.drivers.services import KAFKA_PORT, ensure_service

    ensure_service("tansu.sh", KAFKA_PORT, "TANSU_PORT")
    return f"127.0.0.1:{KAFKA_PORT}"


def sqs_address() -> str:
    from tests.drivers.services import MOTO_PORT, ensure_service

    ensure_service("moto.sh", MOTO_PORT, "MOTO_PORT")
    return f"http://127.0.0.1:{MOTO_PORT}"


def nats_address() -> str:
    from tests.drivers.services import NATS_PORT, ensure_service

    ensure_service("nats.sh", NATS_PORT, "NATS_PORT")
    return f"nats://127.0.0.1:{NATS_PORT}"


def beanstalk_address() -> str:
    from tests.drivers.services import BEANSTALK_PORT, ensure_service

    ensure_service("beanstalkd.sh", BEANSTALK_PORT, "BEANSTALK_PORT")
    return f"tcp://127.0.0.1:{BEANSTALK_PORT}"


def other_raw(driver: str, address: Callable[[], str]) -> Callable[[int], Any] | None:
    """The kafka/sqs raw-rate function of bench/raw_clients_kafka_sqs.py: the first
    callable named like ``<driver>...rate`` there, called as fn(n, address)."""
    try:
        mod = importlib.import_module("bench.raw_clients_kafka_sqs")
    except ImportError:
        return None
    for attr, fn in vars(mod).items():
        if attr.startswith(driver) and "rate" in attr and callable(fn):
            return lambda n, fn=fn: fn(n, address())
    return None


def targets() -> list[Target]:
    from bench import raw_clients, raw_with_workers

    return [
        Target("memory", lambda name: ({"priority": 10, "prefetch": 100_000}, {}), None),
        Target("amqp",
               lambda name: ({"queue": name, "routing_key": name, "exchange": f"x-{name}",
                              "prefetch": 100, "delete_queue_on_stop": True},
                             {"amqp": {"addr": RABBITMQ_URL}}),
               lambda n: raw_clients.amqp_consume_ack_rate(n, RABBITMQ_URL),
               raw_workers=lambda n: raw_with_workers.amqp_rate(n, RABBITMQ_URL)),
        Target("redis",
               lambda name: ({"stream": name, "prefetch": 100, "delete_stream_on_stop": True},
                             {"redis": {"addrs": [f"{REDIS[0]}:{REDIS[1]}"]}}),
               lambda n: raw_clients.redis_consume_ack_rate(n, *REDIS),
               raw_workers=lambda n: raw_with_workers.redis_rate(n, *REDIS)),
        Target("kafka",
               lambda name: ({"auto_create_topics_enable": True,
                              "consumer_options": {"topics": [name]},
                              "group_options": {"group_id": name}},
                             {"kafka": {"brokers": [kafka_address()]}}),
               other_raw("kafka", kafka_address),
               raw_workers=lambda n: raw_with_workers.kafka_rate(n, kafka_address())),
        Target("sqs",
               lambda name: ({"queue": name, "prefetch": 10, "wait_time_seconds": 1},
                             {"sqs": {"endpoint": sqs_address(), "region": "us-east-1",
                                      "key": "test", "secret": "test"}}),
               other_raw("sqs", sqs_address), scale=0.05),
        Target("nats",
               lambda name: ({"stream": name, "subject": name, "prefetch": 100,
                              "delete_stream_on_stop": True},
                             {"nats": {"addr": nats_address()}}),
               lambda n: _nb().nats_consume_ack_rate(n, nats_address()),
               raw_workers=lambda n: _nb().nats_rate(n, nats_address())),
        Target("beanstalk",
               lambda name: ({"tube": name, "prefetch": 100, "reserve_timeout": "1s"},
                             {"beanstalk": {"addr": beanstalk_address()}}),
               lambda n: _nb().beanstalk_consume_ack_rate(n, beanstalk_address()),
               raw_workers=lambda n: _nb().beanstalk_rate(n, beanstalk_address())),
    ]


def _nb() -> Any:
    return importlib.import_module("bench.raw_clients_nats_beanstalk")


def jobs_ok(metrics_url: str) -> float:
    import urllib.request  # after the sys.path fix: it imports http.client

    with urllib.request.urlopen(metrics_url, timeout=10) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith("rr_jobs_jobs_ok "):
                return float(line.split()[1])
    return 0.0


def e2e_rate(target: Target, n: int, batch: int = 500) -> tuple[float, float, float]:
    """(push jobs/s, consume jobs/s, rr CPU µs per consumed job) through rr with 2 PHP
    workers: N jobs are pushed into the paused pipeline, then jobs.Resume starts the clock
    for consuming them all."""
    name = f"bench-{target.name}-{uuid.uuid4().hex[:8]}"
    pipeline, sections = target.config(name)
    rpc_address = f"tcp://127.0.0.1:{free_port()}"
    metrics_port = free_port()
    config = {
        "version": "3",
        "rpc": {"listen": rpc_address},
        "server": {"command": ACKER},
        "logs": {"level": "error"},
        "metrics": {"address": f"127.0.0.1:{metrics_port}"},
        "jobs": {"pool": {"num_workers": 2}, "consume": [],
                 "pipelines": {name: {"driver": target.name, "config": pipeline}}},
        **sections,
    }
    metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    with tempfile.TemporaryDirectory() as tmp:
        rr = RRProcess(yaml.safe_dump(config), Path(tmp))
        with rr, RPCClient(rpc_address, timeout=300) as client:
            batches = []
            for start in range(0, n, batch):
                req = pb.PushBatchRequest()
                for i in range(start, min(n, start + batch)):
                    req.jobs.add(job="App\\Jobs\\Bench", id=str(uuid.uuid4()),
                                 payload=b'{"n":%d}' % i, options=pb.Options(pipeline=name))
                batches.append(req)
            started = time.perf_counter()
            for req in batches:
                client.call_proto("jobs.PushBatch", req)
            pushed = time.perf_counter() - started
            client.call_proto("jobs.Resume", pb.Pipelines(pipelines=[name]))
            # The clock starts at the first acked job, not at Resume: a kafka consumer
            # joins its group (seconds on Tansu) when the pipeline resumes, and the raw
            # clients are timed after their setup too.
            deadline = time.perf_counter() + 600
            first = jobs_ok(metrics_url)
            while first < 1:
                _check_deadline(deadline, target, first, n, rr)
                time.sleep(0.005)
                first = jobs_ok(metrics_url)
            # profile the consuming only, not a kafka group join
            profiler = _profiler(rr, target.name)
            started = time.perf_counter()
            cpu_before = _cpu_seconds(rr)
            done = first
            while done < n:
                _check_deadline(deadline, target, done, n, rr)
                # every scrape costs rr CPU (~7 % at 100/s): poll gently
                time.sleep(0.05)
                done = jobs_ok(metrics_url)
            consumed = time.perf_counter() - started
            cpu = _cpu_seconds(rr) - cpu_before
            if profiler is not None:
                profiler.send_signal(signal.SIGINT)
                profiler.wait(30)
    return n / pushed, (n - first) / consumed, cpu / max(1.0, n - first) * 1e6


def _cpu_seconds(rr: RRProcess) -> float:
    """CPU time (user + system) the rr process has used so far."""
    assert rr.proc is not None
    with open(f"/proc/{rr.proc.pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _check_deadline(deadline: float, target: Target, done: float, n: int,
                    rr: RRProcess) -> None:
    if time.perf_counter() > deadline:
        raise TimeoutError(f"{target.name}: only {done} of {n} jobs acked\n"
                           f"{rr.output[-3000:]}")


def _profiler(rr: RRProcess, driver: str) -> subprocess.Popen[bytes] | None:
    """With BENCH_PROFILE=<dir>: py-spy samples rr while it consumes (raw stacks in
    <dir>/<driver>.raw, for flamegraph.pl or a quick self-time count)."""
    out_dir = os.environ.get("BENCH_PROFILE")
    if not out_dir or rr.proc is None:
        return None
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    # BENCH_PROFILE_NATIVE=1: C frames too (syscalls, the event loop's own work)
    native = ["--native"] if os.environ.get("BENCH_PROFILE_NATIVE") else []
    return subprocess.Popen(["py-spy", "record", "-p", str(rr.proc.pid), "-f", "raw",
                             "-r", "200", *native,
                             "-o", str(Path(out_dir) / f"{driver}.raw")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def raw_rate(fn: Callable[[int], Any] | None, n: int) -> Any:
    if fn is None:
        return None
    result = fn(n)
    if inspect.isawaitable(result):
        # on uvloop, like `rr serve`: the yardstick gets the same event loop
        import uvloop

        result = uvloop.run(result)  # type: ignore[arg-type]
    return result


def measure(target: Target, count: int) -> tuple[float, ...]:
    """One round: (push, consume, rr CPU µs/job, raw, raw+workers, its CPU µs/job); 0.0
    where a yardstick is not available."""
    push, e2e, cpu = e2e_rate(target, count)
    raw = raw_rate(target.raw, count) or 0.0
    raw_workers, raw_cpu = raw_rate(target.raw_workers, count) or (0.0, 0.0)
    return push, e2e, cpu, raw, raw_workers, raw_cpu


def main() -> None:
    args = sys.argv[1:]
    repeat = 1
    if "--repeat" in args:
        at = args.index("--repeat")
        repeat = max(1, int(args[at + 1]))
        del args[at:at + 2]
    n = int(args.pop(0)) if args and args[0].isdigit() else 5000
    wanted = set(args)
    rows = []
    for target in targets():
        if wanted and target.name not in wanted:
            continue
        count = max(50, int(n * target.scale))
        rounds = []
        try:
            # rr and its yardsticks alternate, so a slow spell of the machine hits both
            for _ in range(repeat):
                rounds.append(measure(target, count))
        except Exception as exc:  # noqa: BLE001 - one broker down must not hide the rest
            print(f"{target.name}: skipped ({type(exc).__name__}: {exc})", file=sys.stderr)
            continue
        # the median of every column over the rounds
        columns = zip(*rounds, strict=True)
        rows.append((target.name, count, *(statistics.median(col) for col in columns)))
        print(f"{target.name}: done", file=sys.stderr)
    print(f"\njobs per driver (N), 2 PHP workers, median of {repeat} round(s); push = "
          "jobs.PushBatch (500/batch) into the paused pipeline; consume = jobs.Resume until "
          "N acked\n")
    print("| driver | N | rr push jobs/s | rr consume+ack jobs/s | rr CPU µs/job "
          "| raw client msg/s | rr / raw | raw + workers jobs/s | its CPU µs/job "
          "| rr / raw+w |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, count, push, e2e, cpu, raw, raw_workers, raw_cpu in rows:
        print(f"| {name} | {count} | {push:,.0f} | {e2e:,.0f} | {cpu:.0f} | {_num(raw)} "
              f"| {_ratio(e2e, raw)} | {_num(raw_workers)} | {_num(raw_cpu)} "
              f"| {_ratio(e2e, raw_workers)} |")


def _num(value: float | None) -> str:
    return f"{value:,.0f}" if value else "n/a"


def _ratio(value: float, base: float | None) -> str:
    return f"{value / base:.0%}" if base else "n/a"


if __name__ == "__main__":
    main()
