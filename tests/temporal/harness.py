"""rr with the temporal plugin and the PHP fixture worker, plus a temporalio client."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from tests.helpers import PHP_FIXTURES, RRProcess, free_port, wait_for

T = TypeVar("T")
WORKER = PHP_FIXTURES / "temporal_worker.php"


def rr_config(address: str, status_port: int, rpc_port: int, *, workers: int = 2,
              extra: str = "", metrics_port: int = 0) -> str:
    return f"""
version: "3"
rpc:
  listen: tcp://127.0.0.1:{rpc_port}
server:
  command: "php {WORKER}"
logs:
  level: debug
status:
  address: 127.0.0.1:{status_port}
metrics:
  address: 127.0.0.1:{metrics_port}
temporal:
  address: {address}
  namespace: default
  activities:
    num_workers: {workers}
{extra}
"""


class TemporalRR:
    def __init__(self, address: str, task_queue: str, workdir: Path, *, workers: int = 2,
                 extra: str = "", env: dict[str, str] | None = None) -> None:
        self.status_port = free_port()
        self.rpc_port = free_port()
        self.metrics_port = free_port()
        self.task_queue = task_queue
        self.rr = RRProcess(rr_config(address, self.status_port, self.rpc_port,
                                      workers=workers, extra=extra,
                                      metrics_port=self.metrics_port), workdir,
                            env={"TEMPORAL_TASK_QUEUE": task_queue, **(env or {})})

    def ready(self) -> int:
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.status_port}/ready?plugin=temporal", timeout=3) as r:
                return int(r.status)
        except urllib.error.HTTPError as e:
            return int(e.code)
        except OSError:
            return 0

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Until /ready says temporal serves; generous, the dev server is shared by
        every test process. rr's output goes with the failure."""
        try:
            wait_for(lambda: self.ready() == 200, timeout, 0.2, "temporal ready")
        except TimeoutError as e:
            raise TimeoutError(f"{e}; rr output:\n{self.rr.output[-4000:]}") from None

    def metrics(self) -> str:
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics",
                                    timeout=5) as r:
            return str(r.read().decode())


async def client(address: str) -> Any:
    from temporalio.client import Client

    return await Client.connect(address, namespace="default")


async def run_workflow(address: str, workflow: str, args: list[Any], task_queue: str,
                       timeout: float = 60.0, wid: str | None = None) -> Any:
    import uuid

    c = await client(address)
    h = await c.start_workflow(workflow, args=args, id=wid or f"wf-{uuid.uuid4()}",
                               task_queue=task_queue)
    return await asyncio.wait_for(h.result(), timeout)


def run(coro_fn: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(coro_fn())  # type: ignore[arg-type]
