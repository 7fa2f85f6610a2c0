"""The shared driver conformance suite, end to end through `rr serve`, on NATS JetStream,
plus the broker side seen with a plain nats-py client (interop)."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from typing import Any

import nats
import pytest

from tests.drivers.conformance import DriverConformance, Harness
from tests.drivers.services import NATS_PORT, ensure_service

pytestmark = [pytest.mark.timeout(240), pytest.mark.php]


class TestNATSConformance(DriverConformance):
    driver = "nats"

    @pytest.fixture
    def broker(self) -> tuple[str, int]:
        ensure_service("nats.sh", NATS_PORT, "NATS_PORT")
        return ("127.0.0.1", NATS_PORT)

    def pipeline_config(self, name: str) -> dict[str, Any]:
        # a short ack_wait so that the jobs a killed rr held come back within seconds
        # (while rr runs it keeps them alive with +WPI)
        return {"stream": f"rr-{name}", "subject": f"rr.{name}", "prefetch": 10,
                "ack_wait": "3s", "delete_after_ack": True}

    def connection_sections(self, via: str | None) -> dict[str, Any]:
        return {"nats": {"addr": f"nats://{via or f'127.0.0.1:{NATS_PORT}'}"}}

    def declare_options(self, name: str) -> dict[str, str]:
        return {"stream": f"rr-{name}", "subject": f"rr.{name}", "prefetch": "10",
                "ack_wait": "3", "delete_after_ack": "true"}

    # -- interop ------------------------------------------------------------------------
    def test_pushed_jobs_are_roadrunner_json(self, make_harness: Callable[..., Harness]
                                             ) -> None:
        rr = make_harness(consume=False)
        job_id = rr.push({"reply": "ack"}, headers={"tenant": ["42", "43"]}, priority=3,
                         name="App\\Jobs\\Mail")

        async def first() -> bytes:
            nc = await nats.connect(f"nats://127.0.0.1:{NATS_PORT}")
            try:
                msg = await nc.jetstream().get_last_msg(f"rr-{rr.pipeline}",
                                                        f"rr.{rr.pipeline}")
                return bytes(msg.data or b"")
            finally:
                await nc.close()

        body = json.loads(asyncio.run(first()))
        assert list(body)[:4] == ["job", "id", "payload", "options"]
        assert (body["job"], body["id"]) == ("App\\Jobs\\Mail", job_id)
        assert json.loads(base64.b64decode(body["payload"])) == {"reply": "ack"}
        assert body["options"] == {"priority": 3, "pipeline": rr.pipeline,
                                   "auto_ack": False, "Queue": ""}
        assert body["headers"] == {"tenant": ["42", "43"]}

    def test_foreign_messages_run(self, rr: Harness) -> None:
        async def publish() -> None:
            nc = await nats.connect(f"nats://127.0.0.1:{NATS_PORT}")
            try:
                js = nc.jetstream()
                await js.publish(f"rr.{rr.pipeline}", json.dumps({
                    "job": "Foreign", "id": "foreign-1",
                    "payload": base64.b64encode(b'{"reply":"ack"}').decode()}).encode(),
                    headers={"k": "v"})
            finally:
                await nc.close()

        asyncio.run(publish())
        [rec] = rr.wait_records("foreign-1")
        assert (rec["job"], rec["queue"]) == ("Foreign", f"rr-{rr.pipeline}")
        assert rec["headers"]["k"] == ["v"]
        assert rec["headers"]["x-nats-subject"] == [f"rr.{rr.pipeline}"]

    def test_restart_does_not_redeliver_acked_jobs(self, rr: Harness) -> None:
        """RoadRunner's ephemeral consumers re-read the whole stream on every start."""
        done = rr.push({"reply": "ack"})
        rr.wait_records(done)
        assert rr.rr.stop(60) == 0
        rr.restart()
        rr.settle_marker()
        assert len(rr.of(done)) == 1


def ledger_broker(request: pytest.FixtureRequest) -> tuple[str, int]:
    """For tests/drivers/test_ledger.py: the tests' NATS, started if needed."""
    ensure_service("nats.sh", NATS_PORT, "NATS_PORT")
    return ("127.0.0.1", NATS_PORT)
