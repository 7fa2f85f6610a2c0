"""The AMQP driver through the conformance suite, against a real RabbitMQ."""

from __future__ import annotations

from typing import Any

import pytest

from tests.drivers.conformance import DriverConformance
from tests.drivers.conftest import RABBITMQ_PORT

pytestmark = [pytest.mark.php, pytest.mark.broker("rabbitmq")]

# unused test queues disappear on their own after ten minutes
QUEUE_EXPIRES_MS = 600_000


class TestAMQPConformance(DriverConformance):
    driver = "amqp"

    @pytest.fixture
    def broker(self, rabbitmq_port: int) -> tuple[str, int]:
        return ("127.0.0.1", rabbitmq_port)

    def pipeline_config(self, name: str) -> dict[str, Any]:
        return {
            "queue": f"rr-conf-{name}",
            "routing_key": f"rr-conf-{name}",
            "exchange": f"rr-conf-{name}",
            "exchange_auto_delete": True,
            "durable": True,
            # at-least-once on worker failure: RoadRunner's default drops a failed job
            "requeue_on_fail": True,
            "prefetch": 10,
            "queue_headers": {"x-expires": QUEUE_EXPIRES_MS},
        }

    def connection_sections(self, via: str | None) -> dict[str, Any]:
        return {"amqp": {"addr": f"amqp://guest:guest@{via or f'127.0.0.1:{RABBITMQ_PORT}'}/"}}

    def declare_options(self, name: str) -> dict[str, str]:
        return {"queue": f"rr-conf-{name}", "routing_key": f"rr-conf-{name}",
                "exchange": f"rr-conf-{name}", "exchange_auto_delete": "true",
                "durable": "true", "requeue_on_fail": "true", "prefetch": "100",
                "queue_headers": '{"x-expires": 600000}'}
