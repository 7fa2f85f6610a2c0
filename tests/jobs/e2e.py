"""Starting `rr serve` with a jobs config and the PHP consumer fixture, and reading what
the consumer received (one JSON line per delivery)."""

from __future__ import annotations

import json
import textwrap
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from rr.goridge.rpc import RPCClient
from rr.jobs.proto import jobs_pb2 as pb
from tests.helpers import RRProcess, free_port, php_worker, wait_for

#: one consumed memory pipeline "p" (the jobs block of most e2e tests)
MEMORY = """
consume: [p]
pipelines:
  p:
    driver: memory
    config:
      priority: 10
"""


class JobsServer:
    def __init__(self, tmp: Path, jobs_yaml: str, workers: int = 2, extra: str = "",
                 consumer: str = "jobs_consumer.php", pool: str = "") -> None:
        self.tmp = tmp
        self.log = tmp / "received.jsonl"
        self.log.touch()
        self.address = f"tcp://127.0.0.1:{free_port()}"
        jobs_block = textwrap.indent(textwrap.dedent(jobs_yaml).strip(), "  ")
        self.rr = RRProcess(f"""
version: "3"
rpc:
  listen: {self.address}
server:
  command: "{php_worker(consumer)}"
  env:
    JOBS_LOG: {self.log}
    JOBS_FIXED: {tmp / "fixed"}
logs:
  level: debug
jobs:
  pool:
    num_workers: {workers}
{textwrap.indent(textwrap.dedent(pool).strip(), "    ")}
{jobs_block}
{textwrap.dedent(extra).strip()}
""", tmp)

    def __enter__(self) -> JobsServer:
        self.rr.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.rr.__exit__(*exc)

    # -- RPC ---------------------------------------------------------------------------
    def call(self, method: str, msg: Any, reply: Any = None) -> Any:
        with RPCClient(self.address) as c:
            return c.call_proto(method, msg, reply)

    def push(self, pipeline: str, payload: str, *, id: str | None = None, priority: int = 0,
             delay: int = 0, name: str = "App\\Jobs\\Test",
             headers: dict[str, list[str]] | None = None) -> str:
        job_id = id or str(uuid.uuid4())
        job = pb.Job(job=name, id=job_id, payload=payload.encode(),
                     options=pb.Options(pipeline=pipeline, priority=priority, delay=delay))
        for k, v in (headers or {}).items():
            job.headers[k].value.extend(v)
        self.call("jobs.Push", pb.PushRequest(job=job))
        return job_id

    def stats(self) -> dict[str, Any]:
        st = self.call("jobs.Stat", pb.Empty(), pb.Stats)
        return {s.pipeline: s for s in st.stats}

    # -- what the consumer saw ---------------------------------------------------------
    def received(self) -> list[dict[str, Any]]:
        lines = self.log.read_text().splitlines()
        out = [json.loads(x) for x in lines if x.strip()]
        for r in out:  # PHP encodes an empty header array as []
            r["headers"] = r["headers"] or {}
        return out

    def counts(self) -> Counter[str]:
        return Counter(r["id"] for r in self.received())

    def wait_received(self, n: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        wait_for(lambda: len(self.received()) >= n, timeout,
                 what=f"{n} deliveries (have {len(self.received())})\n{self.rr.output}")
        return self.received()

    def wait_idle(self, pipeline: str, timeout: float = 30.0) -> None:
        def idle() -> bool:
            s = self.stats().get(pipeline)
            return s is not None and s.active == 0 and s.delayed == 0

        wait_for(idle, timeout, what=f"{pipeline} idle")
