"""Shared broker fixtures for driver tests (RabbitMQ, Redis).

Each fixture makes sure its broker answers, starting it with scripts/services/<name>.sh
when it does not. When a broker cannot be reached the test is skipped with the reason,
except under CI=true, where that is a failure: CI must run every broker.
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from tests.helpers import service_env

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts" / "services"
RABBITMQ_PORT = int(os.environ.get("RABBITMQ_PORT", "5672"))
REDIS_PORT = int(os.environ.get("REDIS_PORT", "6379"))


def port_answers(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def broker_unavailable(reason: str) -> None:
    """Skip locally; fail under CI=true, where a silent skip would hide a broken setup."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: brokers must run)")
    pytest.skip(reason)


def ensure_broker(name: str, port: int, env_name: str) -> None:
    if port_answers(port):
        return
    script = SCRIPTS / f"{name}.sh"
    if script.exists():
        subprocess.run(["bash", str(script)], capture_output=True, text=True,
                       env=service_env(env_name, port), timeout=180)
    if not port_answers(port):
        broker_unavailable(f"{name} does not answer on 127.0.0.1:{port}")


@pytest.fixture(scope="session")
def rabbitmq_port() -> int:
    ensure_broker("rabbitmq", RABBITMQ_PORT, "RABBITMQ_PORT")
    return RABBITMQ_PORT


@pytest.fixture(scope="session")
def rabbitmq_url(rabbitmq_port: int) -> str:
    """AMQP URI of a running RabbitMQ (guest/guest)."""
    return f"amqp://guest:guest@127.0.0.1:{rabbitmq_port}/"


@pytest.fixture(scope="session")
def redis_port() -> int:
    ensure_broker("redis", REDIS_PORT, "REDIS_PORT")
    return REDIS_PORT


@pytest.fixture(scope="session")
def redis_addr(redis_port: int) -> str:
    """host:port of a running Redis."""
    return f"127.0.0.1:{redis_port}"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "php: needs php-cli (skipped without it)")
