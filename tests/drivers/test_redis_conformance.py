"""The shared driver conformance suite, end to end through `rr serve`, on the redis driver."""

from __future__ import annotations

from typing import Any

import pytest

from tests.drivers.conformance import DriverConformance


class TestRedisConformance(DriverConformance):
    driver = "redis"

    @pytest.fixture
    def broker(self, redis_port: int) -> tuple[str, int]:
        return ("127.0.0.1", redis_port)

    def pipeline_config(self, name: str) -> dict[str, Any]:
        # a short visibility timeout so that jobs a killed rr left pending come back soon
        return {"stream": f"rr-conf-{name}", "block": "200ms", "visibility_timeout": "2s",
                "delete_stream_on_stop": False}

    def connection_sections(self, via: str | None) -> dict[str, Any]:
        from tests.drivers.conftest import REDIS_PORT

        return {"redis": {"addrs": [via or f"127.0.0.1:{REDIS_PORT}"],
                          "dial_timeout": "1s", "read_timeout": "2s"}}

    def declare_options(self, name: str) -> dict[str, str]:
        return {"stream": f"rr-conf-{name}", "block": "200ms", "visibility_timeout": "2s"}
