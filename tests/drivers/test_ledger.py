"""The delivery ledger: push N uniquely numbered jobs through real PHP workers on a
durable driver while workers are killed (-9), the broker connection is cut and restored,
and rr itself is killed (-9) and started again. Then count:

* lost       - pushed (the push RPC succeeded) but never seen by a worker: must be 0;
* duplicated - seen more than once (at-least-once makes some of these expected);
* unexpected - seen but never pushed by this run.

Other durable drivers join by adding a LedgerTarget to TARGETS.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import tests.drivers.test_amqp_conformance as amqp_conformance
import tests.drivers.test_beanstalk_conformance as beanstalk_conformance
import tests.drivers.test_kafka_conformance as kafka_conformance
import tests.drivers.test_nats_conformance as nats_conformance
import tests.drivers.test_redis_conformance as redis_conformance
import tests.drivers.test_sqs_conformance as sqs_conformance
from rr.goridge.rpc import RPCClientError
from tests.drivers.conformance import DriverConformance, Harness
from tests.drivers.proxy import TCPProxy
from tests.helpers import wait_for

pytestmark = [pytest.mark.php, pytest.mark.slow]

JOBS = int(os.environ.get("RR_LEDGER_JOBS", "300"))


@dataclass(frozen=True)
class LedgerTarget:
    suite: type[DriverConformance]
    #: returns (host, port) of a running broker, using the session fixtures
    broker: Callable[[pytest.FixtureRequest], tuple[str, int]]


TARGETS = {
    "amqp": LedgerTarget(amqp_conformance.TestAMQPConformance,
                         lambda req: ("127.0.0.1", req.getfixturevalue("rabbitmq_port"))),
    "redis": LedgerTarget(redis_conformance.TestRedisConformance,
                          lambda req: ("127.0.0.1", req.getfixturevalue("redis_port"))),
    "kafka": LedgerTarget(kafka_conformance.TestKafkaConformance,
                          kafka_conformance.ledger_broker),
    "sqs": LedgerTarget(sqs_conformance.TestSQSConformance, sqs_conformance.ledger_broker),
    "nats": LedgerTarget(nats_conformance.TestNATSConformance, nats_conformance.ledger_broker),
    "beanstalk": LedgerTarget(beanstalk_conformance.TestBeanstalkConformance,
                              beanstalk_conformance.ledger_broker),
}


@dataclass
class Ledger:
    pushed: set[str]
    seen: Counter[str]

    @property
    def lost(self) -> set[str]:
        return self.pushed - set(self.seen)

    @property
    def duplicated(self) -> dict[str, int]:
        return {k: n for k, n in self.seen.items() if n > 1}

    @property
    def unexpected(self) -> set[str]:
        return set(self.seen) - self.pushed

    def figures(self) -> dict[str, Any]:
        return {"pushed": len(self.pushed), "seen_unique": len(self.seen),
                "deliveries": sum(self.seen.values()), "lost": len(self.lost),
                "duplicated": len(self.duplicated),
                "extra_deliveries": sum(n - 1 for n in self.duplicated.values()),
                "unexpected": len(self.unexpected)}


class Pusher(threading.Thread):
    """Pushes job i = 0..n-1, retrying each until the RPC succeeds (rr may be down)."""

    def __init__(self, harness: Harness, run: str, n: int) -> None:
        super().__init__(daemon=True)
        self.harness, self.run_id, self.n = harness, run, n
        self.pushed: set[str] = set()
        self.retries = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for i in range(self.n):
                job_id = f"{self.run_id}-{i:05d}"
                while True:
                    try:
                        self.harness.push({"reply": "sleep", "seconds": 0.03, "times": 99,
                                           "n": i}, job_id=job_id)
                        break
                    except (OSError, RPCClientError):
                        self.retries += 1
                        time.sleep(0.2)
                self.pushed.add(job_id)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc


def count_seen(harness: Harness, prefix: str) -> Counter[str]:
    return Counter(r["id"] for r in harness.records() if r["id"].startswith(prefix))


@pytest.mark.parametrize("target_name", sorted(TARGETS))
def test_ledger_under_chaos(target_name: str, request: pytest.FixtureRequest,
                            tmp_path: Path) -> None:
    target = TARGETS[target_name]
    host, port = target.broker(request)
    suite = target.suite()
    run_id = f"ledger-{uuid.uuid4().hex[:8]}"
    chaos: list[str] = []
    with TCPProxy(host, port) as proxy:
        harness = Harness(suite, tmp_path, workers=2, via=proxy.address).start()
        try:
            pusher = Pusher(harness, run_id, JOBS)
            pusher.start()

            def progress(at_least: int) -> None:
                wait_for(lambda: sum(count_seen(harness, run_id).values()) >= at_least,
                         180, 0.05, f"{at_least} deliveries")

            for step in (JOBS // 10, JOBS // 6, JOBS // 4):
                progress(step)
                last = harness.records()[-1]
                try:
                    os.kill(last["pid"], signal.SIGKILL)
                    chaos.append(f"kill -9 worker {last['pid']} after {step} deliveries")
                except ProcessLookupError:
                    pass
            progress(JOBS * 2 // 5)
            proxy.cut()
            chaos.append("broker connection cut")
            time.sleep(2)
            proxy.restore()
            chaos.append("broker connection restored")
            progress(JOBS * 3 // 5)
            harness.kill_rr()
            chaos.append("kill -9 rr (and its workers)")
            harness.restart()
            chaos.append("rr restarted")
            pusher.join(300)
            assert not pusher.is_alive(), "pusher did not finish"
            assert pusher.error is None, pusher.error
            with contextlib.suppress(TimeoutError):  # reported as lost below
                wait_for(lambda: set(count_seen(harness, run_id)) >= pusher.pushed, 300, 0.2,
                         "every pushed job")
        finally:
            harness.close()
    ledger = Ledger(pusher.pushed, count_seen(harness, run_id))
    figures = {"driver": target_name, **ledger.figures(), "push_retries": pusher.retries,
               "chaos": chaos}
    print("\nLEDGER " + json.dumps(figures))
    (tmp_path / "ledger.json").write_text(json.dumps(figures, indent=2))
    assert len(ledger.pushed) == JOBS
    assert not ledger.unexpected, sorted(ledger.unexpected)[:10]
    assert not ledger.lost, f"lost {len(ledger.lost)}: {sorted(ledger.lost)[:10]}"
