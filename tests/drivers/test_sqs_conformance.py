"""The shared driver conformance suite, end to end through `rr serve`, on SQS (moto)."""

from __future__ import annotations

import json
import uuid
from typing import Any, ClassVar

import pytest

from tests.drivers.conformance import DriverConformance, Harness
from tests.drivers.services import MOTO_PORT, ensure_service

pytestmark = [pytest.mark.timeout(240), pytest.mark.php]


class TestSQSConformance(DriverConformance):
    driver = "sqs"
    supports_delay: ClassVar[bool] = True
    supports_auto_ack: ClassVar[bool] = True

    @pytest.fixture
    def broker(self) -> tuple[str, int]:
        ensure_service("moto.sh", MOTO_PORT, "MOTO_PORT")
        return ("127.0.0.1", MOTO_PORT)

    def queue(self, name: str) -> str:
        return f"rr-{name}-{uuid.uuid4().hex[:6]}"

    def pipeline_config(self, name: str) -> dict[str, Any]:
        # wait_time_seconds 1: long polling, so moto is not hammered by empty receives;
        # visibility_timeout 6: after an rr kill -9 the held job comes back within seconds
        # (while rr runs, the driver keeps extending it)
        return {"queue": self.queue(name), "prefetch": 10, "wait_time_seconds": 1,
                "visibility_timeout": 6}

    def connection_sections(self, via: str | None) -> dict[str, Any]:
        return {"sqs": {"key": "test", "secret": "test", "region": "us-east-1",
                        "endpoint": f"http://{via or f'127.0.0.1:{MOTO_PORT}'}"}}

    def declare_options(self, name: str) -> dict[str, str]:
        return {"queue": self.queue(name), "prefetch": "10", "wait_time": "1",
                "visibility_timeout": "6",
                "attributes": json.dumps({"MessageRetentionPeriod": "3600"})}

    def test_large_payload(self, rr: Harness) -> None:
        """SQS caps a message (body plus attributes) at 1 MiB, so the shared 1 MiB body
        cannot be sent; the same check runs with the largest body that fits."""
        import hashlib

        body = json.dumps({"reply": "ack", "pad": "x" * (1024 * 1024 - 4096)}).encode()
        job_id = rr.push(body)
        [rec] = rr.wait_records(job_id)
        assert rec["payload_len"] == len(body)
        assert rec["payload_md5"] == hashlib.md5(body).hexdigest()

    def test_oversized_payload_fails_the_push(self, rr: Harness) -> None:
        from rr.goridge.rpc import RPCClientError

        with pytest.raises(RPCClientError):
            rr.push(json.dumps({"reply": "ack", "pad": "x" * (1024 * 1024)}).encode())
        rr.wait_records(rr.push({"reply": "ack"}))




def ledger_broker(request: pytest.FixtureRequest) -> tuple[str, int]:
    """For tests/drivers/test_ledger.py: moto_server, started if needed."""
    ensure_service("moto.sh", MOTO_PORT, "MOTO_PORT")
    return ("127.0.0.1", MOTO_PORT)
