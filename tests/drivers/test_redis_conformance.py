"""The shared driver conformance suite, end to end through `rr serve`, on the redis driver."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest
import redis

from tests.drivers.conformance import DriverConformance, Harness
from tests.helpers import wait_for

pytestmark = [pytest.mark.php]


class TestRedisConformance(DriverConformance):
    driver = "redis"

    @pytest.fixture
    def broker(self, redis_port: int) -> tuple[str, int]:
        return ("127.0.0.1", redis_port)

    @pytest.fixture(autouse=True)
    def drop_streams(self, redis_port: int) -> Iterator[None]:
        """Streams must outlive rr (restart cases), so they are removed after the test."""
        yield
        client = redis.Redis(host="127.0.0.1", port=redis_port)
        try:
            for key in client.scan_iter(match="rr-conf-*", count=1000):
                name = key.decode()
                # only this test's keys: pipelines made by Harness/Declare in this process
                if name.removesuffix(":delayed") in self.streams:
                    client.delete(key)
        finally:
            client.close()

    streams: ClassVar[set[str]] = set()

    def pipeline_config(self, name: str) -> dict[str, Any]:
        self.streams.add(f"rr-conf-{name}")
        # a short visibility timeout so that jobs a killed rr left pending come back soon
        return {"stream": f"rr-conf-{name}", "block": "200ms", "visibility_timeout": "2s",
                "delete_stream_on_stop": False}

    def connection_sections(self, via: str | None) -> dict[str, Any]:
        from tests.drivers.conftest import REDIS_PORT

        return {"redis": {"addrs": [via or f"127.0.0.1:{REDIS_PORT}"],
                          "dial_timeout": "1s", "read_timeout": "2s"}}

    def declare_options(self, name: str) -> dict[str, str]:
        self.streams.add(f"rr-conf-{name}")
        return {"stream": f"rr-conf-{name}", "block": "200ms", "visibility_timeout": "2s"}

    # -- interop: the broker side seen with a plain redis client ---------------------
    def test_pushed_jobs_are_plain_stream_entries(
            self, make_harness: Callable[..., Harness], redis_port: int) -> None:
        rr = make_harness(consume=False)
        job_id = rr.push({"reply": "ack"}, headers={"tenant": ["42", "43"]}, priority=3,
                         name="App\\Jobs\\Mail")
        client = redis.Redis(host="127.0.0.1", port=redis_port)
        try:
            [(_, fields)] = client.xrange(f"rr-conf-{rr.pipeline}")
        finally:
            client.close()
        assert fields[b"rr_id"] == job_id.encode()
        assert fields[b"rr_job"] == b"App\\Jobs\\Mail"
        assert fields[b"rr_pipeline"] == rr.pipeline.encode()
        assert json.loads(fields[b"rr_headers"]) == {"tenant": ["42", "43"]}
        assert (fields[b"rr_priority"], fields[b"rr_delay"], fields[b"rr_auto_ack"]) == \
            (b"3", b"0", b"false")
        assert json.loads(fields[b"payload"]) == {"reply": "ack"}

    def test_entries_added_by_other_producers_run(
            self, rr: Harness, redis_port: int) -> None:
        client = redis.Redis(host="127.0.0.1", port=redis_port)
        try:
            client.xadd(f"rr-conf-{rr.pipeline}", {
                "rr_id": "foreign-1", "rr_job": "Foreign", "rr_headers": '{"k":["v"]}',
                "payload": '{"reply":"ack"}'})
            client.xadd(f"rr-conf-{rr.pipeline}", {"order": "7"})
        finally:
            client.close()
        [rec] = rr.wait_records("foreign-1")
        assert (rec["job"], rec["headers"], rec["queue"]) == \
            ("Foreign", {"k": ["v"]}, f"rr-conf-{rr.pipeline}")
        deduced = wait_for(lambda: [r for r in rr.records() if r["job"] == "deduced_by_rr"],
                           30, what="the entry without rr_* fields")
        assert deduced[0]["headers"] == {"order": ["7"]}
