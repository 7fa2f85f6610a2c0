"""Real `rr serve`, real php-cli consumers (RR\\Jobs\\Consumer), memory pipelines."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from rr.goridge.frame import CODEC_PROTO
from rr.goridge.rpc import RPCClient, RPCClientError
from rr.jobs.proto import jobs_pb2 as pb
from tests.jobs.e2e import MEMORY, JobsServer


def test_every_reply_type(tmp_path: Path) -> None:
    with JobsServer(tmp_path, MEMORY) as s:
        once = {
            "ack": "ack", "complete": "complete", "nack": "nack:bad", "fail": "fail:boom",
            "unknown-type": 'raw:{"type":9,"data":[]}', "invalid-json": "raw:not json",
            "array-headers": 'raw:{"type":4,"data":{"headers":[["x"]]}}',
            "empty-body": "raw:",
        }
        ids = {k: s.push("p", v, id=f"{k}-id") for k, v in once.items()}
        ids["requeue"] = s.push("p", "requeue-until:3", id="requeue-id",
                                headers={"keep": ["me"]})
        s.wait_received(len(once) + 3)
        s.wait_idle("p")
        time.sleep(0.3)  # nothing else may arrive
        counts = s.counts()
        assert {k: counts[v] for k, v in ids.items()} == {**dict.fromkeys(once, 1),
                                                          "requeue": 3}
        requeued = [r for r in s.received() if r["id"] == "requeue-id"]
        # requeue merges the reply's headers over the job's: the counter goes up, keep stays
        assert [r["headers"] for r in requeued] == [
            {"keep": ["me"]}, {"keep": ["me"], "attempts": ["2"]},
            {"keep": ["me"], "attempts": ["3"]}]
        first = requeued[0]
        assert (first["job"], first["pipeline"], first["driver"]) == (
            "App\\Jobs\\Test", "p", "memory")


def test_php_producer_and_declare(tmp_path: Path) -> None:
    import subprocess

    with JobsServer(tmp_path, MEMORY) as s:
        out = subprocess.run(["php", str(Path(__file__).parent.parent / "php" /
                                         "jobs_producer.php"), s.address, "p", "5"],
                             capture_output=True, text=True, timeout=30, check=True)
        sent = json.loads(out.stdout)
        assert sent["paused"] is False and sent["pipelines"] == ["p"]
        got = s.wait_received(5)
        assert sorted(r["id"] for r in got) == sorted(sent["ids"])
        assert sorted(r["headers"]["n"][0] for r in got) == ["0", "1", "2", "3", "4"]
        # a declared pipeline starts paused (not in consume) until the PHP code resumes it
        out = subprocess.run(["php", str(Path(__file__).parent.parent / "php" /
                                         "jobs_producer.php"), s.address, "tmp", "2",
                              "declare"], capture_output=True, text=True, timeout=30,
                             check=True)
        sent2 = json.loads(out.stdout)
        assert sent2["paused"] is True and sorted(sent2["pipelines"]) == ["p", "tmp"]
        got = s.wait_received(7)
        assert {r["pipeline"] for r in got[5:]} == {"tmp"}


def test_priority_order_and_delay(tmp_path: Path) -> None:
    cfg = """
    consume: []
    pipelines:
      p:
        driver: memory
        config:
          priority: 10
    """
    with JobsServer(tmp_path, cfg, workers=1) as s:
        s.push("p", "ack", id="late", delay=2)
        s.push("p", "ack", id="p10")
        s.push("p", "ack", id="p5", priority=5)
        s.push("p", "ack", id="p1", priority=1)
        s.push("p", "ack", id="p10b")
        st = s.stats()["p"]
        assert (st.ready, st.delayed, st.active) == (False, 1, 0)
        s.call("jobs.Resume", pb.Pipelines(pipelines=["p"]))
        got = s.wait_received(5)
        assert [r["id"] for r in got] == ["p1", "p5", "p10", "p10b", "late"]
        s.wait_idle("p")


def test_rpc_errors_and_malformed_proto(tmp_path: Path) -> None:
    with JobsServer(tmp_path, MEMORY) as s, RPCClient(s.address) as c:
        with pytest.raises(RPCClientError, match="proto"):
            c.call_raw("jobs.Push", b"\xff\xff\xff", CODEC_PROTO)
        with pytest.raises(RPCClientError, match="empty ID field not allowed"):
            c.call_proto("jobs.Push", pb.PushRequest(job=pb.Job(
                job="x", options=pb.Options(pipeline="p"))))
        with pytest.raises(RPCClientError, match="no such pipeline, requested: nope"):
            c.call_proto("jobs.Push", pb.PushRequest(job=pb.Job(
                job="x", id="1", options=pb.Options(pipeline="nope"))))
        with pytest.raises(RPCClientError, match="no such pipeline, requested: nope"):
            c.call_proto("jobs.Pause", pb.Pipelines(pipelines=["nope"]))
        with pytest.raises(RPCClientError, match="pipeline already exists, name: p, "
                                                 "driver: memory"):
            c.call_proto("jobs.Declare", pb.DeclareRequest(pipeline={"name": "p",
                                                                     "driver": "memory"}))
        # batch: in order, stops at the first bad job; earlier ones stay pushed
        batch = pb.PushBatchRequest(jobs=[
            pb.Job(job="x", id="b1", payload=b"ack", options=pb.Options(pipeline="p")),
            pb.Job(job="x", id="b2", payload=b"ack", options=pb.Options(pipeline="zz")),
            pb.Job(job="x", id="b3", payload=b"ack", options=pb.Options(pipeline="p"))])
        with pytest.raises(RPCClientError, match="no such pipeline, requested: zz"):
            c.call_proto("jobs.PushBatch", batch)
        # the connection and the server survive all of it
        assert list(c.call_proto("jobs.List", pb.Empty(), pb.Pipelines).pipelines) == ["p"]
        s.wait_idle("p")
        assert c.call("informer.Jobs", "jobs") == [
            {"Pipeline": "p", "Driver": "memory", "Queue": "p", "Active": 0, "Delayed": 0,
             "Reserved": 0, "Ready": True, "Priority": 10, "ErrorMessage": ""}]
    got = s.received()
    assert [r["id"] for r in got] == ["b1"]


def test_kill9_worker_mid_job(tmp_path: Path) -> None:
    with JobsServer(tmp_path, MEMORY, workers=1) as s:
        s.push("p", "sleep:5000", id="victim")
        first = s.wait_received(1)[0]
        os.kill(first["pid"], signal.SIGKILL)
        # redelivered to the replacement worker, once, with the attempt counted
        got = s.wait_received(2)
        time.sleep(0.5)
        got = s.received()
        assert [r["id"] for r in got] == ["victim", "victim"]
        assert got[1]["headers"] == {"rr-attempt": ["2"]} and got[1]["pid"] != first["pid"]
        s.wait_idle("p", timeout=30)


def test_sigterm_with_jobs_in_flight(tmp_path: Path) -> None:
    """The backlog (3 s of work) fits the 30 s grace period: every job runs once."""
    cfg = MEMORY + "timeout: 20\n"
    with JobsServer(tmp_path, cfg, workers=2) as s:
        ids = {s.push("p", "sleep:300") for _ in range(20)}
        s.wait_received(1)
        s.rr.signal(signal.SIGTERM)
        assert s.rr.wait(60) == 0
        out = s.rr.output
        assert "jobs lost" not in out, out
        assert set(s.counts()) == ids
        assert all(n == 1 for n in s.counts().values())
