"""The shared driver conformance suite, end to end through `rr serve`, on beanstalkd, plus
the tube seen with the driver's own protocol client (interop, buried dead letters)."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from rr.drivers.beanstalk_client import Address, Connection, TimedOut
from tests.drivers.conformance import DriverConformance, Harness
from tests.drivers.services import BEANSTALK_PORT, ensure_service

pytestmark = [pytest.mark.timeout(240), pytest.mark.php]


async def _on_tube(tube: str, action: Callable[[Connection], Any]) -> Any:
    conn = Connection(Address(port=BEANSTALK_PORT), 10)
    await conn.connect()
    try:
        await conn.use(tube)
        await conn.watch(tube)
        await conn.ignore("default")
        return await action(conn)
    finally:
        await conn.close()


class TestBeanstalkConformance(DriverConformance):
    driver = "beanstalk"

    @pytest.fixture
    def broker(self) -> tuple[str, int]:
        ensure_service("beanstalkd.sh", BEANSTALK_PORT, "BEANSTALK_PORT")
        return ("127.0.0.1", BEANSTALK_PORT)

    def pipeline_config(self, name: str) -> dict[str, Any]:
        return {"tube": f"rr-{name}", "reserve_timeout": "1s"}

    def connection_sections(self, via: str | None) -> dict[str, Any]:
        # timeout is the TTR too: short, so the jobs a killed rr held come back soon (a
        # running rr keeps them with touch)
        return {"beanstalk": {"addr": f"tcp://{via or f'127.0.0.1:{BEANSTALK_PORT}'}",
                              "timeout": "3s"}}

    def declare_options(self, name: str) -> dict[str, str]:
        return {"tube": f"rr-{name}", "reserve_timeout": "1"}

    def test_pushed_jobs_are_documented_json(self, make_harness: Callable[..., Harness]
                                             ) -> None:
        rr = make_harness(consume=False)
        job_id = rr.push({"reply": "ack"}, headers={"tenant": ["42", "43"]}, priority=3)

        async def take(conn: Connection) -> bytes:
            got = await conn.reserve(5)
            await conn.release(got.id, 0, 0)
            return got.body

        body = json.loads(asyncio.run(_on_tube(f"rr-{rr.pipeline}", take)))
        assert body["id"] == job_id and body["headers"] == {"tenant": ["42", "43"]}
        assert json.loads(base64.b64decode(body["payload"])) == {"reply": "ack"}
        assert body["options"]["priority"] == 3

    def test_foreign_bodies_run_as_deduced(self, rr: Harness) -> None:
        asyncio.run(_on_tube(f"rr-{rr.pipeline}",
                             lambda c: c.put(b"not json at all", 0, 0, 30)))
        from tests.helpers import wait_for

        wait_for(lambda: [r for r in rr.records() if r["job"] == "deduced_by_rr"], 60,
                 what="the foreign body")

    def test_discarded_jobs_are_buried(self, rr: Harness) -> None:
        job_id = rr.push({"reply": "nack", "times": 99})
        rr.wait_records(job_id)
        rr.settle_marker()

        async def buried(conn: Connection) -> bytes | None:
            got = await conn.peek_buried()
            return None if got is None else got.body

        from tests.helpers import wait_for

        body = wait_for(lambda: asyncio.run(_on_tube(f"rr-{rr.pipeline}", buried)), 30,
                        what="a buried job")
        assert json.loads(body)["id"] == job_id

    def test_reserve_times_out_on_an_empty_tube(self, broker: Any) -> None:
        async def reserve(conn: Connection) -> None:
            with pytest.raises(TimedOut):
                await conn.reserve(0)

        asyncio.run(_on_tube("rr-empty-tube", reserve))


def ledger_broker(request: pytest.FixtureRequest) -> tuple[str, int]:
    """For tests/drivers/test_ledger.py: beanstalkd, started if needed."""
    ensure_service("beanstalkd.sh", BEANSTALK_PORT, "BEANSTALK_PORT")
    return ("127.0.0.1", BEANSTALK_PORT)
