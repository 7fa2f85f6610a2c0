"""The driver conformance suite: every jobs driver passes these tests unchanged.

End to end, as a user runs it: ``rr serve`` (tests.helpers.RRProcess) with a jobs pool of
php-cli workers running tests/php/jobs_recorder.php, jobs pushed through the real RPC
(jobs.Push proto), assertions on the lines the recorder wrote.

A driver's test module subclasses :class:`DriverConformance` and provides:

* ``driver`` - the driver name;
* ``pipeline_config(name)`` - the pipeline's ``config:`` map (unique broker names per name);
* ``connection_sections(via)`` - the top-level connection sections (``amqp:`` ...);
  ``via`` is a ``host:port`` that replaces the broker address (the cuttable proxy) or None;
* ``declare_options(name)`` - the flat string map for a runtime ``jobs.Declare``;
* a ``broker`` fixture that guarantees the broker runs (and returns its ``(host, port)``);
* the capability flags below.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from rr.goridge.rpc import RPCClient, RPCClientError
from rr.jobs.proto import jobs_pb2 as pb
from tests.drivers.proxy import TCPProxy
from tests.helpers import RRProcess, free_port, php_worker, wait_for

MiB = 1024 * 1024


class Harness:
    """One rr server with a recorder pool and one pipeline under test."""

    def __init__(self, suite: DriverConformance, workdir: Path, *, consume: bool = True,
                 workers: int = 2, via: str | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        self.suite = suite
        self.workdir = workdir
        self.pipeline = f"p-{uuid.uuid4().hex[:10]}"
        self.record_file = workdir / "records.jsonl"
        self.record_file.touch()
        self.rpc_address = f"tcp://127.0.0.1:{free_port()}"
        pipeline = {"driver": suite.driver, "config": suite.pipeline_config(self.pipeline)}
        config: dict[str, Any] = {
            "version": "3",
            "rpc": {"listen": self.rpc_address},
            "server": {"command": php_worker("jobs_recorder.php")},
            "logs": {"level": "debug"},
            "jobs": {
                "timeout": 60,
                "pool": {"num_workers": workers, "allocate_timeout": "60s",
                         "destroy_timeout": "10s"},
                "consume": [self.pipeline] if consume else [],
                "pipelines": {self.pipeline: pipeline},
            },
            **suite.connection_sections(via),
            **(extra or {}),
        }
        self.config_text = yaml.safe_dump(config, sort_keys=False)
        self.rr = self._process()

    def _process(self) -> RRProcess:
        return RRProcess(self.config_text, self.workdir,
                         env={"RR_RECORD_FILE": str(self.record_file)})

    # lifecycle -------------------------------------------------------------------
    def start(self) -> Harness:
        self.rr.start(timeout=60)
        return self

    def close(self) -> None:
        try:
            self.rr.stop(60)
        finally:
            self.rr.kill()

    def kill_rr(self) -> None:
        """kill -9 rr and all of its workers."""
        self.rr.kill()

    def restart(self) -> None:
        self.rr = self._process()
        self.start()

    # RPC -------------------------------------------------------------------------
    def call(self, method: str, request: Any, reply_cls: Any = None) -> Any:
        with RPCClient(self.rpc_address, timeout=90) as client:
            return client.call_proto(method, request, reply_cls)

    def push(self, payload: dict[str, Any] | bytes | None = None, *, job_id: str | None = None,
             name: str = "App\\Jobs\\Recorded", headers: dict[str, list[str]] | None = None,
             delay: int = 0, priority: int = 0, auto_ack: bool = False,
             pipeline: str | None = None) -> str:
        job_id = job_id or str(uuid.uuid4())
        body = payload if isinstance(payload, bytes) else json.dumps(payload or {}).encode()
        job = pb.Job(job=name, id=job_id, payload=body,
                     options=pb.Options(pipeline=pipeline or self.pipeline, delay=delay,
                                        priority=priority, auto_ack=auto_ack))
        for key, values in (headers or {}).items():
            job.headers[key].value.extend(values)
        self.call("jobs.Push", pb.PushRequest(job=job))
        return job_id

    def pipelines_call(self, method: str, *names: str) -> Any:
        return self.call(method, pb.Pipelines(pipelines=list(names or [self.pipeline])),
                         pb.Pipelines)

    def list(self) -> list[str]:
        return list(self.call("jobs.List", pb.Empty(), pb.Pipelines).pipelines)

    def stat(self, name: str | None = None) -> Any:
        stats = self.call("jobs.Stat", pb.Empty(), pb.Stats)
        for st in stats.stats:
            if st.pipeline == (name or self.pipeline):
                return st
        return None

    # records ---------------------------------------------------------------------
    def records(self) -> list[dict[str, Any]]:
        lines = self.record_file.read_text().splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def of(self, job_id: str) -> list[dict[str, Any]]:
        return [r for r in self.records() if r["id"] == job_id]

    def wait_records(self, job_id: str, count: int = 1, timeout: float = 60.0
                     ) -> list[dict[str, Any]]:
        def enough() -> list[dict[str, Any]] | None:
            got = self.of(job_id)
            return got if len(got) >= count else None

        try:
            result: list[dict[str, Any]] = wait_for(enough, timeout, 0.1,
                                                    f"{count} record(s) of {job_id}")
        except TimeoutError:
            raise AssertionError(f"{count} record(s) of {job_id} not seen; records: "
                                 f"{self.of(job_id)}\nrr output:\n{self.rr.output[-6000:]}"
                                 ) from None
        return result

    def settle_marker(self) -> None:
        """Push a plain job and wait for it: whatever was queued before it has had its
        chance to be redelivered (used before asserting that something did NOT happen)."""
        self.wait_records(self.push({"reply": "ack"}))


class DriverConformance:
    """Abstract suite (pytest does not collect it: the name does not start with Test)."""

    driver: ClassVar[str] = ""
    #: a job survives an rr crash / restart (it lives on a broker)
    durable: ClassVar[bool] = True
    #: a plain Nack (worker error frame, worker crash) redelivers the job
    redelivers_failed: ClassVar[bool] = True
    #: delay is honoured (kafka ignores it)
    supports_delay: ClassVar[bool] = True
    #: the connection can be cut with the TCP proxy (via connection_sections(via))
    supports_connection_cut: ClassVar[bool] = True
    #: auto_ack removes the job on receipt (memory and kafka ignore it)
    supports_auto_ack: ClassVar[bool] = True

    # -- to provide ----------------------------------------------------------------
    @pytest.fixture
    def broker(self) -> tuple[str, int] | None:
        return None

    def pipeline_config(self, name: str) -> dict[str, Any]:
        raise NotImplementedError

    def connection_sections(self, via: str | None) -> dict[str, Any]:
        return {}

    def declare_options(self, name: str) -> dict[str, str]:
        raise NotImplementedError

    # -- fixtures ------------------------------------------------------------------
    @pytest.fixture
    def make_harness(self, broker: Any, tmp_path: Path
                     ) -> Iterator[Callable[..., Harness]]:
        made: list[Harness] = []

        def make(**kw: Any) -> Harness:
            h = Harness(self, tmp_path, **kw)
            made.append(h)
            return h.start()

        yield make
        for h in made:
            h.close()

    @pytest.fixture
    def rr(self, make_harness: Callable[..., Harness]) -> Harness:
        return make_harness()

    # -- cases ---------------------------------------------------------------------
    def test_push_and_consume(self, rr: Harness) -> None:
        job_id = rr.push({"reply": "ack", "n": 1}, headers={"tenant": ["42"]})
        [rec] = rr.wait_records(job_id)
        assert rec["job"] == "App\\Jobs\\Recorded"
        assert rec["driver"] == self.driver
        assert rec["pipeline"] == rr.pipeline
        assert json.loads(rec["payload"]) == {"reply": "ack", "n": 1}
        assert rec["headers"].get("tenant") == ["42"]
        assert rec["attempt"] == 1

    def test_push_to_unknown_pipeline_fails(self, rr: Harness) -> None:
        with pytest.raises(RPCClientError, match="no such pipeline"):
            rr.push({"reply": "ack"}, pipeline=f"missing-{uuid.uuid4().hex[:6]}")

    def test_reply_ack_is_final(self, rr: Harness) -> None:
        job_id = rr.push({"reply": "ack"})
        rr.wait_records(job_id)
        rr.settle_marker()
        assert len(rr.of(job_id)) == 1

    def test_reply_nack_discards(self, rr: Harness) -> None:
        job_id = rr.push({"reply": "nack", "times": 99})
        rr.wait_records(job_id)
        rr.settle_marker()
        assert len(rr.of(job_id)) == 1

    def test_reply_nack_requeue_redelivers(self, rr: Harness) -> None:
        job_id = rr.push({"reply": "nack_requeue"}, headers={"h": ["v"]})
        first, second = rr.wait_records(job_id, 2)
        assert (first["attempt"], second["attempt"]) == (1, 2)
        assert second["headers"].get("h") == ["v"]

    def test_reply_requeue_merges_headers(self, rr: Harness) -> None:
        job_id = rr.push({"reply": "requeue", "headers": {"swap": ["new"]}},
                         headers={"keep": ["k"], "swap": ["old"]})
        _, second = rr.wait_records(job_id, 2)
        assert second["headers"].get("keep") == ["k"]
        assert second["headers"].get("swap") == ["new"]
        assert second["headers"].get("attempt") == ["2"]
        assert second["job"] == "App\\Jobs\\Recorded"

    def test_worker_error_frame(self, rr: Harness) -> None:
        """A worker error is a plain Nack: redelivered where the driver does so."""
        job_id = rr.push({"reply": "error"})
        if self.redelivers_failed:
            rr.wait_records(job_id, 2)
        else:
            rr.wait_records(job_id)
            rr.settle_marker()
            assert len(rr.of(job_id)) == 1

    def test_delay(self, rr: Harness) -> None:
        if not self.supports_delay:
            pytest.skip(f"{self.driver} ignores delay")
        delayed = rr.push({"reply": "ack"}, delay=2)
        immediate = rr.push({"reply": "ack"})
        rr.wait_records(delayed)
        ids = [r["id"] for r in rr.records()]
        assert ids.index(immediate) < ids.index(delayed)

    def test_delayed_requeue(self, rr: Harness) -> None:
        if not self.supports_delay:
            pytest.skip(f"{self.driver} ignores delay")
        job_id = rr.push({"reply": "requeue", "delay": 1})
        rr.wait_records(job_id, 2)

    def test_headers_round_trip(self, rr: Harness) -> None:
        headers = {"multi": ["a", "b", "c"], "unicode": ["żółw ✓"], "empty-ish": [" "]}
        job_id = rr.push({"reply": "ack"}, headers=headers)
        [rec] = rr.wait_records(job_id)
        for key, values in headers.items():
            assert rec["headers"].get(key) == values

    def test_large_payload(self, rr: Harness) -> None:
        import hashlib

        body = json.dumps({"reply": "ack", "pad": "x" * MiB}).encode()
        job_id = rr.push(body)
        [rec] = rr.wait_records(job_id)
        assert rec["payload_len"] == len(body)
        assert rec["payload_md5"] == hashlib.md5(body).hexdigest()

    def test_auto_ack(self, rr: Harness) -> None:
        if not self.supports_auto_ack:
            pytest.skip(f"{self.driver} ignores auto_ack")
        job_id = rr.push({"reply": "error", "times": 99}, auto_ack=True)
        rr.wait_records(job_id)
        rr.settle_marker()
        assert len(rr.of(job_id)) == 1   # acked on receipt: the failure is not redelivered

    def test_pause_resume(self, make_harness: Callable[..., Harness]) -> None:
        rr = make_harness(consume=False)
        st = rr.stat()
        assert st is not None and not st.ready
        job_id = rr.push({"reply": "ack"})
        assert rr.of(job_id) == []
        rr.pipelines_call("jobs.Resume")
        rr.wait_records(job_id)
        assert rr.stat().ready
        with pytest.raises(RPCClientError, match="already in the active state"):
            rr.pipelines_call("jobs.Resume")
        rr.pipelines_call("jobs.Pause")
        assert not rr.stat().ready
        with pytest.raises(RPCClientError, match="no active listeners"):
            rr.pipelines_call("jobs.Pause")
        later = rr.push({"reply": "ack"})
        rr.pipelines_call("jobs.Resume")
        rr.wait_records(later)

    def test_destroy(self, rr: Harness) -> None:
        rr.wait_records(rr.push({"reply": "ack"}))
        destroyed = rr.pipelines_call("jobs.Destroy")
        assert list(destroyed.pipelines) == [rr.pipeline]
        assert rr.pipeline not in rr.list()
        with pytest.raises(RPCClientError, match="no such pipeline"):
            rr.push({"reply": "ack"})

    def test_runtime_declare(self, rr: Harness) -> None:
        name = f"d-{uuid.uuid4().hex[:10]}"
        options = {"name": name, "driver": self.driver, "priority": "10",
                   **self.declare_options(name)}
        rr.call("jobs.Declare", pb.DeclareRequest(pipeline=options))
        assert name in rr.list()
        with pytest.raises(RPCClientError, match="already exists"):
            rr.call("jobs.Declare", pb.DeclareRequest(pipeline=options))
        job_id = rr.push({"reply": "ack"}, pipeline=name)
        rr.pipelines_call("jobs.Resume", name)    # not in `consume`: starts paused
        [rec] = rr.wait_records(job_id)
        assert rec["pipeline"] == name
        rr.pipelines_call("jobs.Destroy", name)

    def test_redelivery_after_worker_kill9(self, rr: Harness) -> None:
        job_id = rr.push({"reply": "sleep", "seconds": 60})
        [rec] = rr.wait_records(job_id)
        os.kill(rec["pid"], signal.SIGKILL)
        if self.redelivers_failed:
            second = rr.wait_records(job_id, 2)[1]
            assert second["attempt"] == 2 and second["pid"] != rec["pid"]
        else:
            rr.settle_marker()   # RoadRunner drops a job whose worker died
            assert len(rr.of(job_id)) == 1

    def test_redelivery_after_rr_kill9(self, rr: Harness) -> None:
        if not self.durable:
            pytest.skip(f"{self.driver} keeps jobs in rr's memory")
        job_id = rr.push({"reply": "sleep", "seconds": 60})
        rr.wait_records(job_id)
        rr.kill_rr()
        rr.restart()
        second = rr.wait_records(job_id, 2)[1]
        assert second["attempt"] == 2

    def test_sigterm_returns_unstarted_jobs(self, make_harness: Callable[..., Harness]
                                            ) -> None:
        if not self.durable:
            pytest.skip(f"{self.driver} keeps jobs in rr's memory")
        rr = make_harness(workers=1)
        ids = [rr.push({"reply": "sleep", "seconds": 0.5, "times": 1}) for _ in range(6)]
        rr.wait_records(ids[0])
        assert rr.rr.stop(90) == 0
        rr.restart()
        for job_id in ids:
            rr.wait_records(job_id)

    def test_connection_cut_and_restore(self, broker: Any,
                                        make_harness: Callable[..., Harness]) -> None:
        if not self.supports_connection_cut or broker is None:
            pytest.skip(f"{self.driver} has no connection to cut")
        with TCPProxy(*broker) as proxy:
            rr = make_harness(via=proxy.address)
            rr.wait_records(rr.push({"reply": "ack"}))
            held = rr.push({"reply": "sleep", "seconds": 3})
            rr.wait_records(held)
            proxy.cut()
            pushed: list[str] = []
            pusher = threading.Thread(
                target=lambda: pushed.append(rr.push({"reply": "ack"})), daemon=True)
            pusher.start()
            pusher.join(1.0)
            proxy.restore()
            pusher.join(90)
            assert pushed, "push during the outage did not complete after restore"
            rr.wait_records(pushed[0])
            rr.wait_records(rr.push({"reply": "ack"}))
            assert rr.rr.proc is not None and rr.rr.proc.poll() is None
            # the job that was in a worker during the cut could not be acked on its dead
            # channel: it is redelivered (at least once), and in the end nothing is left
            wait_for(lambda: rr.stat().active == 0, 60, 0.2, "an empty queue")
            assert 1 <= len(rr.of(held)) <= 2
