"""`rr jobs dlq list|replay` on broker-backed dead-letter pipelines: the dead letters stay
on the broker (a stream, a tube, a topic, a queue), are listed in place with
--limit/--offset, and replay pushes a copy before it removes the stored one."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import tests.drivers.test_amqp_conformance as amqp_conformance
import tests.drivers.test_beanstalk_conformance as beanstalk_conformance
import tests.drivers.test_kafka_conformance as kafka_conformance
import tests.drivers.test_nats_conformance as nats_conformance
import tests.drivers.test_redis_conformance as redis_conformance
import tests.drivers.test_sqs_conformance as sqs_conformance
from rr.goridge.rpc import RPCClient
from rr.jobs.proto import jobs_pb2 as pb
from tests.drivers.conformance import DriverConformance
from tests.drivers.services import KAFKA_PORT, ensure_service
from tests.helpers import RRProcess, free_port, php_worker, run_cli, wait_for

pytestmark = [pytest.mark.timeout(240), pytest.mark.php]

SUITES: dict[str, type[DriverConformance]] = {
    "amqp": amqp_conformance.TestAMQPConformance,
    "nats": nats_conformance.TestNATSConformance,
    "beanstalk": beanstalk_conformance.TestBeanstalkConformance,
    "redis": redis_conformance.TestRedisConformance,
    "kafka": kafka_conformance.TestKafkaConformance,
    "sqs": sqs_conformance.TestSQSConformance,
}


def kafka_broker(_: pytest.FixtureRequest) -> tuple[str, int]:
    ensure_service("tansu.sh", KAFKA_PORT, "TANSU_PORT")
    return ("127.0.0.1", KAFKA_PORT)


BROKERS = {"amqp": lambda req: ("127.0.0.1", req.getfixturevalue("rabbitmq_port")),
           "nats": nats_conformance.ledger_broker,
           "beanstalk": beanstalk_conformance.ledger_broker,
           "redis": lambda req: ("127.0.0.1", req.getfixturevalue("redis_port")),
           "kafka": kafka_broker,
           "sqs": sqs_conformance.ledger_broker}


class DeadLetters:
    """rr with a consumed pipeline whose three failing jobs land in a dead-letter
    pipeline of the same driver, plus the CLI views on them."""

    def __init__(self, driver: str, request: pytest.FixtureRequest, tmp_path: Path,
                 dead_letter: bool = True) -> None:
        BROKERS[driver](request)
        suite = SUITES[driver]()
        self.tag = tag = uuid.uuid4().hex[:8]
        self.work, self.dead = f"work-{tag}", f"dead-{tag}"
        self.tmp_path = tmp_path
        self.records = tmp_path / "records.jsonl"
        self.records.touch()
        self.rpc = f"tcp://127.0.0.1:{free_port()}"
        work_cfg = suite.pipeline_config(self.work)
        if dead_letter:
            work_cfg["dead_letter"] = self.dead
        else:   # the failed jobs stay in the work pipeline (beanstalk buries them)
            self.dead = self.work
        self.config = {
            "version": "3", "rpc": {"listen": self.rpc},
            "server": {"command": php_worker("jobs_recorder.php")},
            "jobs": {"pool": {"num_workers": 2}, "consume": [self.work],
                     "pipelines": {self.dead: {"driver": driver,
                                               "config": suite.pipeline_config(self.dead)},
                                   self.work: {"driver": driver, "config": work_cfg}}},
            **suite.connection_sections(None)}
        self.ids = [f"{tag}-{i}" for i in range(3)]
        self.rr: RRProcess | None = None

    def start(self) -> RRProcess:
        self.rr = RRProcess(yaml.safe_dump(self.config), self.tmp_path,
                            env={"RR_RECORD_FILE": str(self.records)}).start()
        return self.rr

    def push_failing(self) -> None:
        with RPCClient(self.rpc, timeout=60) as client:
            for job_id in self.ids:
                job = pb.Job(job="App\\Jobs\\Fails", id=job_id,
                             payload=json.dumps({"reply": "nack", "times": 1}).encode(),
                             options=pb.Options(pipeline=self.work))
                client.call_proto("jobs.Push", pb.PushRequest(job=job))
        wait_for(lambda: len(self.listed()) == 3, 60, 0.3, "three dead letters")

    def cli(self, *args: str) -> Any:
        assert self.rr is not None
        return run_cli(*args, "-c", str(self.rr.config_path), cwd=self.tmp_path)

    def listed(self, *extra: str) -> list[str]:
        out = self.cli("jobs", "dlq", "list", self.dead, *extra)
        assert out.returncode == 0, out.stderr
        return [line.split("|")[1].strip() for line in out.stdout.splitlines()
                if line.startswith("| ") and "ID" not in line]

    def seen(self, job_id: str) -> int:
        return sum(1 for line in self.records.read_text().splitlines()
                   if json.loads(line)["id"] == job_id)


@pytest.fixture
def dead_letters(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DeadLetters]:
    driver, _, variant = request.param.partition(":")
    dl = DeadLetters(driver, request, tmp_path, dead_letter=variant != "buried")
    yield dl
    if dl.rr is not None:
        try:
            dl.rr.stop()
        finally:
            dl.rr.kill()


@pytest.mark.parametrize("dead_letters", sorted(SUITES), indirect=True)
def test_dead_letters_are_listed_and_replayed(dead_letters: DeadLetters) -> None:
    dl = dead_letters
    dl.start()
    dl.push_failing()
    assert sorted(dl.listed()) == sorted(dl.ids)
    everything = dl.listed()
    assert dl.listed("--limit", "1", "--offset", "1") == everything[1:2]
    assert dl.listed("--offset", "2") == everything[2:]

    out = dl.cli("jobs", "dlq", "replay", dl.dead, "--to", dl.work)
    assert out.returncode == 0 and "replayed 3 job(s)" in out.stdout, out.stderr
    # the second attempt acks (times: 1): each job ran twice, nothing is dead any more
    wait_for(lambda: all(dl.seen(j) == 2 for j in dl.ids), 60, 0.3, "replayed deliveries")
    assert dl.listed() == []


@pytest.mark.parametrize("dead_letters", ["kafka", "sqs"], indirect=True)
def test_one_dead_letter_is_replayed_by_id_and_the_rest_survive_a_restart(
        dead_letters: DeadLetters) -> None:
    """Kafka cannot delete a record (a marker hides it) and SQS listing hides the messages
    for a while: replaying the middle one leaves exactly the other two, also for a
    freshly started rr, and an unknown id is reported without touching them."""
    dl = dead_letters
    dl.start()
    dl.push_failing()
    first, middle, last = dl.listed()
    out = dl.cli("jobs", "dlq", "replay", dl.dead, "--to", dl.work, "--id", middle)
    assert out.returncode == 0 and "replayed 1 job(s)" in out.stdout, out.stderr
    wait_for(lambda: dl.seen(middle) == 2, 60, 0.3, "the replayed job")
    assert dl.listed() == [first, last]

    out = dl.cli("jobs", "dlq", "replay", dl.dead, "--id", "no-such-job")
    assert "not in the dead-letter queue" in out.stdout + out.stderr
    assert dl.listed() == [first, last]

    assert dl.rr is not None
    dl.rr.stop()
    dl.start()
    assert dl.listed() == [first, last]
    out = dl.cli("jobs", "dlq", "replay", dl.dead, "--to", dl.work)
    assert out.returncode == 0 and "replayed 2 job(s)" in out.stdout, out.stderr
    wait_for(lambda: dl.seen(first) == 2 and dl.seen(last) == 2, 60, 0.3, "replayed jobs")
    assert dl.listed() == []
    assert dl.seen(middle) == 2


@pytest.mark.parametrize("dead_letters", ["beanstalk:buried"], indirect=True)
def test_buried_jobs_of_a_consumed_tube_are_listed_in_order_and_replayed(
        dead_letters: DeadLetters) -> None:
    """Without a dead-letter pipeline a failed beanstalk job is buried in its own, consumed
    tube: listing walks the buried list once round (reserve-job, bury again) and leaves it
    in its old order; replay without --to puts a job back into its own pipeline."""
    dl = dead_letters
    dl.start()
    dl.push_failing()
    order = dl.listed()
    assert sorted(order) == sorted(dl.ids)
    assert dl.listed() == order   # the round trip kept the buried order
    assert dl.listed("--limit", "2", "--offset", "1") == order[1:]
    out = dl.cli("jobs", "dlq", "list", dl.work)
    assert "buried" in out.stdout and dl.work in out.stdout

    first, middle, last = order
    out = dl.cli("jobs", "dlq", "replay", dl.work, "--id", middle)
    assert out.returncode == 0 and "replayed 1 job(s)" in out.stdout, out.stderr
    wait_for(lambda: dl.seen(middle) == 2, 60, 0.3, "the replayed job")
    assert dl.listed() == [first, last]
    out = dl.cli("jobs", "dlq", "replay", dl.work)
    assert out.returncode == 0 and "replayed 2 job(s)" in out.stdout, out.stderr
    wait_for(lambda: all(dl.seen(j) == 2 for j in dl.ids), 60, 0.3, "replayed jobs")
    assert dl.listed() == []
