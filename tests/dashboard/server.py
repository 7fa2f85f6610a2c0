"""`rr serve` with every plugin the dashboard reads (http + metrics, jobs on the memory
driver with a dead-letter pipeline, cron, rpc) and the dashboard, plus small clients."""

from __future__ import annotations

import base64
import json
import textwrap
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from rr.goridge.rpc import RPCClient
from rr.jobs.proto import jobs_pb2 as pb
from tests.helpers import RRProcess, free_port, php_worker

TOKEN = "s3cret-token"
USER, PASSWORD = "ops", "pa:ss"


class Client:
    """The JSON API at ``base``; actions with the bearer token, basic auth or nothing."""

    def __init__(self, base: str) -> None:
        self.base = base

    def request(self, path: str, method: str = "GET", body: bytes | None = None,
                headers: dict[str, str] | None = None, base: str | None = None
                ) -> tuple[int, dict[str, str], bytes]:
        req = urllib.request.Request((base or self.base) + path, data=body, method=method,
                                     headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def get(self, path: str) -> Any:
        status, _, body = self.request(path)
        assert status == 200, (path, status, body)
        return json.loads(body)

    def post(self, path: str, body: Any = None, auth: str = "bearer") -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if auth == "bearer":
            headers["Authorization"] = f"Bearer {TOKEN}"
        elif auth == "basic":
            headers["Authorization"] = "Basic " + base64.b64encode(
                f"{USER}:{PASSWORD}".encode()).decode()
        data = json.dumps(body if body is not None else {}).encode()
        status, _, raw = self.request(path, "POST", data, headers)
        return status, json.loads(raw)


class DashboardServer(Client):
    def __init__(self, tmp: Path, dashboard: str = "", workers: int = 2) -> None:
        self.tmp = tmp
        self.rpc_address = f"tcp://127.0.0.1:{free_port()}"
        self.http_port, self.metrics_port, self.port = free_port(), free_port(), free_port()
        super().__init__(f"http://127.0.0.1:{self.port}")
        extra = textwrap.indent(textwrap.dedent(dashboard).strip(), "  ")
        if not dashboard:
            extra = f"  token: {TOKEN}\n  user: {USER}\n  password: \"{PASSWORD}\""
        self.rr = RRProcess(f"""
version: "3"
rpc:
  listen: {self.rpc_address}
server:
  command: "{php_worker('jobs_consumer.php')}"
  env:
    JOBS_LOG: {tmp / "received.jsonl"}
    JOBS_FIXED: {tmp / "fixed"}
logs:
  level: info
metrics:
  address: 127.0.0.1:{self.metrics_port}
http:
  address: 127.0.0.1:{self.http_port}
  middleware: [http_metrics]
  pool:
    command: "{php_worker('http_app.php')}"
    num_workers: {workers}
jobs:
  pool:
    num_workers: {workers}
  consume: [work]
  pipelines:
    work:
      driver: memory
      config:
        dead_letter: dead
    dead:
      driver: memory
      config: {{}}
cron:
  jobs:
    nightly:
      schedule: "0 3 * * *"
      pipeline: work
      job: Nightly
      payload: ack
dashboard:
  address: 127.0.0.1:{self.port}
{extra}
""", tmp)

    def __enter__(self) -> DashboardServer:
        self.rr.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.rr.__exit__(*exc)

    # -- clients -----------------------------------------------------------------------------
    def push(self, payload: str, pipeline: str = "work", job_id: str | None = None) -> str:
        job_id = job_id or str(uuid.uuid4())
        job = pb.Job(job="App\\Jobs\\Mail", id=job_id, payload=payload.encode(),
                     options=pb.Options(pipeline=pipeline))
        with RPCClient(self.rpc_address) as c:
            c.call_proto("jobs.Push", pb.PushRequest(job=job))
        return job_id

    def deliveries(self, job_id: str) -> int:
        """How many times the PHP consumer received this job."""
        text = (self.tmp / "received.jsonl").read_text()
        return sum(1 for line in text.splitlines() if json.loads(line)["id"] == job_id)

    def stats(self) -> dict[str, Any]:
        with RPCClient(self.rpc_address) as c:
            st = c.call_proto("jobs.Stat", pb.Empty(), pb.Stats)
        return {s.pipeline: s for s in st.stats}

    def metrics(self) -> str:
        status, _, body = self.request("/metrics", base=f"http://127.0.0.1:{self.metrics_port}")
        assert status == 200
        return body.decode()

    def hit(self, path: str = "/", n: int = 1) -> None:
        for _ in range(n):
            self.request(path, base=f"http://127.0.0.1:{self.http_port}")
