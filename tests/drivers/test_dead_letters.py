"""`rr jobs dlq list|replay` on broker-backed dead-letter pipelines: the dead letters stay
on the broker (a stream, a tube), are listed in place with --limit/--offset, and replay
pushes a copy before it removes the stored one."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

import tests.drivers.test_amqp_conformance as amqp_conformance
import tests.drivers.test_beanstalk_conformance as beanstalk_conformance
import tests.drivers.test_nats_conformance as nats_conformance
import tests.drivers.test_redis_conformance as redis_conformance
from rr.goridge.rpc import RPCClient
from rr.jobs.proto import jobs_pb2 as pb
from tests.drivers.conformance import DriverConformance
from tests.helpers import RRProcess, free_port, php_worker, run_cli, wait_for

pytestmark = [pytest.mark.timeout(240), pytest.mark.php]

SUITES: dict[str, type[DriverConformance]] = {
    "amqp": amqp_conformance.TestAMQPConformance,
    "nats": nats_conformance.TestNATSConformance,
    "beanstalk": beanstalk_conformance.TestBeanstalkConformance,
    "redis": redis_conformance.TestRedisConformance,
}
BROKERS = {"amqp": lambda req: ("127.0.0.1", req.getfixturevalue("rabbitmq_port")),
           "nats": nats_conformance.ledger_broker,
           "beanstalk": beanstalk_conformance.ledger_broker,
           "redis": lambda req: ("127.0.0.1", req.getfixturevalue("redis_port"))}


@pytest.mark.parametrize("driver", sorted(SUITES))
def test_dead_letters_are_listed_and_replayed(driver: str, request: pytest.FixtureRequest,
                                              tmp_path: Path) -> None:
    BROKERS[driver](request)
    suite = SUITES[driver]()
    tag = uuid.uuid4().hex[:8]
    work, dead = f"work-{tag}", f"dead-{tag}"
    work_cfg = {**suite.pipeline_config(work), "dead_letter": dead}
    records = tmp_path / "records.jsonl"
    records.touch()
    rpc = f"tcp://127.0.0.1:{free_port()}"
    config = {"version": "3", "rpc": {"listen": rpc},
              "server": {"command": php_worker("jobs_recorder.php")},
              "jobs": {"pool": {"num_workers": 2}, "consume": [work],
                       "pipelines": {work: {"driver": driver, "config": work_cfg},
                                     dead: {"driver": driver,
                                            "config": suite.pipeline_config(dead)}}},
              **suite.connection_sections(None)}
    with RRProcess(yaml.safe_dump(config), tmp_path,
                   env={"RR_RECORD_FILE": str(records)}) as rr:
        ids = [f"{tag}-{i}" for i in range(3)]
        with RPCClient(rpc, timeout=60) as client:
            for job_id in ids:
                job = pb.Job(job="App\\Jobs\\Fails", id=job_id,
                             payload=json.dumps({"reply": "nack", "times": 1}).encode(),
                             options=pb.Options(pipeline=work))
                client.call_proto("jobs.Push", pb.PushRequest(job=job))

        def cli(*args: str) -> Any:
            return run_cli(*args, "-c", str(rr.config_path), cwd=tmp_path)

        def listed(*extra: str) -> list[str]:
            out = cli("jobs", "dlq", "list", dead, *extra)
            assert out.returncode == 0, out.stderr
            return [line.split("|")[1].strip() for line in out.stdout.splitlines()
                    if line.startswith("| ") and "ID" not in line]

        wait_for(lambda: len(listed()) == 3, 60, 0.3, "three dead letters")
        assert sorted(listed()) == sorted(ids)
        everything = listed()
        assert listed("--limit", "1", "--offset", "1") == everything[1:2]
        assert listed("--offset", "2") == everything[2:]

        out = cli("jobs", "dlq", "replay", dead, "--to", work)
        assert out.returncode == 0 and "replayed 3 job(s)" in out.stdout, out.stderr

        def seen(job_id: str) -> int:
            return sum(1 for line in records.read_text().splitlines()
                       if json.loads(line)["id"] == job_id)

        # the second attempt acks (times: 1): each job ran twice, nothing is dead any more
        wait_for(lambda: all(seen(j) == 2 for j in ids), 60, 0.3, "replayed deliveries")
        assert listed() == []
