"""The shared driver conformance suite, end to end through `rr serve`, on Kafka (Tansu)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.drivers import conformance
from tests.drivers.conformance import DriverConformance, Harness
from tests.drivers.proxy import TCPProxy
from tests.drivers.services import KAFKA_PORT, PrivateTansu, ensure_service
from tests.helpers import free_port

pytestmark = [pytest.mark.timeout(240), pytest.mark.php]

MAX_BYTES = 4 * 1024 * 1024   # the suite sends 1 MiB jobs; the client default is ~1 MB


class TestKafkaConformance(DriverConformance):
    driver = "kafka"
    supports_delay: ClassVar[bool] = False      # Kafka has no delay (as in RoadRunner)
    supports_auto_ack: ClassVar[bool] = False   # not carried on Kafka (as in RoadRunner)

    @pytest.fixture
    def broker(self) -> tuple[str, int]:
        ensure_service("tansu.sh", KAFKA_PORT, "TANSU_PORT")
        return ("127.0.0.1", KAFKA_PORT)

    def pipeline_config(self, name: str) -> dict[str, Any]:
        return {"auto_create_topics_enable": True,
                "producer_options": {"max_message_bytes": MAX_BYTES},
                "consumer_options": {"topics": [f"t-{name}"]},
                "group_options": {"group_id": f"g-{name}"}}

    def connection_sections(self, via: str | None) -> dict[str, Any]:
        return {"kafka": {"brokers": [via or f"127.0.0.1:{KAFKA_PORT}"]}}

    def declare_options(self, name: str) -> dict[str, str]:
        return {"auto_create_topics_enable": "true",
                "producer_options": json.dumps({"max_message_bytes": MAX_BYTES}),
                "consumer_options": json.dumps({"topics": [f"t-{name}"]}),
                "group_options": json.dumps({"group_id": f"g-{name}"})}

    @pytest.fixture
    def advertised_via_proxy(self) -> Iterator[tuple[int, int]]:
        """(proxy port, broker port) of a Tansu of this test's own that advertises the
        proxy's port; set up before (so torn down after) the rr harness."""
        proxy_port, broker_port = free_port(), free_port()
        logdir = Path("/tmp/rr-services")
        logdir.mkdir(exist_ok=True)
        private = PrivateTansu(broker_port, proxy_port, logdir).start()
        yield proxy_port, broker_port
        private.stop()

    def test_connection_cut_and_restore(  # type: ignore[override]
            self, advertised_via_proxy: tuple[int, int], broker: Any,
            make_harness: Callable[..., Harness]) -> None:
        """Kafka clients connect to the *advertised* broker address after bootstrapping,
        so a proxy only sits in the path when the broker advertises the proxy's port: the
        shared case runs unchanged against a Tansu of its own that does."""
        proxy_port, broker_port = advertised_via_proxy
        original = conformance.TCPProxy

        def proxy_on_advertised_port(host: str, port: int) -> TCPProxy:
            return original(host, port, port=proxy_port)

        conformance.TCPProxy = proxy_on_advertised_port  # type: ignore[misc,assignment]
        try:
            super().test_connection_cut_and_restore(("127.0.0.1", broker_port), make_harness)
        finally:
            conformance.TCPProxy = original  # type: ignore[misc]


def ledger_broker(request: pytest.FixtureRequest) -> tuple[str, int]:
    """For tests/drivers/test_ledger.py: a Tansu of the test's own, advertising the port
    that the ledger's TCPProxy will get, so cutting the proxy really cuts every
    connection (see test_connection_cut_and_restore above)."""
    import functools

    from tests.drivers import test_ledger

    proxy_port, broker_port = free_port(), free_port()
    logdir = Path("/tmp/rr-services")
    logdir.mkdir(exist_ok=True)
    private = PrivateTansu(broker_port, proxy_port, logdir).start()
    request.addfinalizer(private.stop)
    monkeypatch = request.getfixturevalue("monkeypatch")
    monkeypatch.setattr(test_ledger, "TCPProxy",
                        functools.partial(TCPProxy, port=proxy_port))
    return ("127.0.0.1", broker_port)
