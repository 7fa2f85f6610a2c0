"""docker-compose.yml and deploy/ checked without a Docker engine.

The file is validated against the compose-spec JSON schema that the ``check-jsonschema``
package vendors (no download at test time), then checked for what the schema cannot know:
dependencies exist and are health-checked, the image build uses files that exist, and the
rr config of the stack points at the compose services on the ports they listen on.
"""

from __future__ import annotations

import copy
import importlib.resources
import json
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from rr.config import load

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
RR_CONFIG = ROOT / "deploy" / ".rr.docker.yaml"

#: the port each broker image listens on inside the compose network
BROKER_PORTS = {"rabbitmq": 5672, "kafka": 9092, "elasticmq": 9324, "redis": 6379,
                "temporal": 7233, "nats": 4222, "beanstalkd": 11300, "memcached": 11211}


def compose_schema() -> dict[str, Any]:
    try:
        files = importlib.resources.files("check_jsonschema")
    except ModuleNotFoundError:
        msg = "check-jsonschema (vendors the compose-spec schema) is not installed"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    text = (files / "builtin_schemas" / "vendor" / "compose-spec.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return doc


@pytest.fixture(scope="module")
def validator() -> Any:
    import jsonschema

    schema = compose_schema()
    return jsonschema.validators.validator_for(schema)(schema)


def errors(validator: Any, doc: dict[str, Any]) -> list[str]:
    return [e.message for e in validator.iter_errors(doc)]


def test_matches_compose_spec(validator: Any, compose: dict[str, Any]) -> None:
    assert errors(validator, compose) == []


def test_schema_rejects_broken_files(validator: Any, compose: dict[str, Any]) -> None:
    """The validator is live: the mistakes it exists to catch are reported."""
    typo = copy.deepcopy(compose)
    typo["services"]["redis"]["helthcheck"] = typo["services"]["redis"].pop("healthcheck")
    assert errors(validator, typo)
    wrong_type = copy.deepcopy(compose)
    wrong_type["services"]["rr"]["depends_on"]["redis"]["condition"] = "healthy"
    assert errors(validator, wrong_type)


def test_stack_has_rr_and_every_broker(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"rr", *BROKER_PORTS}
    assert compose["services"]["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == \
        "broker,controller"  # KRaft: no ZooKeeper service needed


def test_every_service_is_health_checked(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name} has no health check"


def test_dependencies_exist_and_wait_for_health(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        for dep, cond in service.get("depends_on", {}).items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            assert cond["condition"] == "service_healthy"
            assert "healthcheck" in services[dep]
    assert set(services["rr"]["depends_on"]) == set(BROKER_PORTS)


def test_rr_image_builds_from_this_checkout(compose: dict[str, Any]) -> None:
    build = compose["services"]["rr"]["build"]
    dockerfile = ROOT / build.get("context", ".") / build["dockerfile"]
    text = dockerfile.read_text()
    assert re.search(r"apt-get install .*php-cli", text)
    for src in re.findall(r"^COPY (\S+) ", text, re.M):
        if "*" not in src:
            assert (ROOT / src).exists(), f"Dockerfile copies missing {src}"
    assert "pip install" in text
    # the config mounted into the container is the one this test reads
    mounts = compose["services"]["rr"]["volumes"]
    assert any(m.startswith("./deploy/.rr.docker.yaml:/etc/rr/.rr.yaml") for m in mounts)
    assert '"/etc/rr/.rr.yaml"' in text


def _host_port(addr: str) -> tuple[str, int]:
    if "://" in addr:
        parts = urlsplit(addr)
        assert parts.hostname is not None and parts.port is not None, addr
        return parts.hostname, parts.port
    host, _, port = addr.rpartition(":")
    return host, int(port)


def _published(service: dict[str, Any]) -> set[int]:
    return {int(str(p).split(":")[-1]) for p in service.get("ports", [])}


def test_rr_config_points_at_the_stack(compose: dict[str, Any]) -> None:
    cfg = load(RR_CONFIG)
    targets = [
        cfg.string("amqp.addr"),
        *cfg.string_list("kafka.brokers"),
        cfg.string("sqs.endpoint"),
        *cfg.string_list("redis.addrs"),
        cfg.string("temporal.address"),
        cfg.string("nats.addr"),
        cfg.string("beanstalk.addr"),
        *cfg.string_list("kv.cache.config.addr"),
    ]
    reached = {_host_port(t) for t in targets}
    assert reached == {(host, port) for host, port in BROKER_PORTS.items()}
    kafka_env = compose["services"]["kafka"]["environment"]
    assert "PLAINTEXT://kafka:9092" in kafka_env["KAFKA_ADVERTISED_LISTENERS"]


def test_rr_config_has_a_consumed_pipeline_per_broker(compose: dict[str, Any]) -> None:
    cfg = load(RR_CONFIG)
    pipelines = cfg.section("jobs.pipelines")
    drivers = {pipelines.section(name).string("driver") for name in pipelines}
    assert drivers == {"amqp", "kafka", "sqs", "redis", "nats", "beanstalk"}
    assert set(cfg.string_list("jobs.consume")) == set(pipelines)
    # listeners bind all interfaces and are published by the rr service
    published = _published(compose["services"]["rr"])
    for key in ("http.address", "status.address", "metrics.address"):
        host, port = _host_port(cfg.string(key))
        assert host == "0.0.0.0" and port in published, key
    assert _host_port(cfg.string("rpc.listen").removeprefix("tcp://"))[1] in published
    # the worker script the image runs is part of this checkout
    script = cfg.string("server.command").split()[-1]
    assert script.startswith("/opt/rr/")
    assert (ROOT / script.removeprefix("/opt/rr/")).is_file()


def test_rr_healthcheck_uses_the_status_plugin(compose: dict[str, Any]) -> None:
    cfg = load(RR_CONFIG)
    _, port = _host_port(cfg.string("status.address"))
    test = " ".join(compose["services"]["rr"]["healthcheck"]["test"])
    assert f"127.0.0.1:{port}/health" in test


def test_redis_pipeline_config_is_accepted() -> None:
    from rr.drivers.redis import RedisDriver
    from rr.pipeline.driver import PipelineOptions

    cfg = load(RR_CONFIG)
    section = cfg.section("jobs.pipelines.streams")

    async def sink(_: Any) -> None:
        return None

    drv = RedisDriver(PipelineOptions("streams", "redis", section.section("config").to_dict(),
                                      global_section=cfg.section("redis")), sink)
    assert (drv.stream, drv.group, drv.prefetch, drv.visibility_ms) == \
        ("rr-jobs", "roadrunner", 20, 60_000)
