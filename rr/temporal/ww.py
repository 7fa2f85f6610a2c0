"""The PHP workflow worker (WW): one process that runs every workflow of every task
queue (spec/temporal.md §1.1). Exchanges queue FIFO in its pool of one worker, so a
whole batch is always applied by PHP before the next one is sent.
"""

from __future__ import annotations

import itertools
import json
from typing import TYPE_CHECKING, Any

from rr.pool.errors import PoolError
from rr.temporal import codec

if TYPE_CHECKING:
    from rr.pool.pool import Pool

#: ids of server → PHP commands: one process-wide counter from 1 (0 = GetWorkerInfo)
_ids = itertools.count(1)


def next_id() -> int:
    return next(_ids)


class WorkerInfoError(Exception):
    pass


class WorkflowProcess:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    @property
    def pid(self) -> int:
        """Read on every exchange: the live worker's pid, without the /proc reads of
        ``Pool.workers()``."""
        for w in self.pool.workers_set:
            return w.pid
        return 0

    async def exchange(self, ctx: codec.Context, messages: list[Any]) -> list[Any]:
        """One frame to PHP and its decoded answer; PHP errors raise ``ExchangeError``."""
        try:
            reply = await self.pool.exec(codec.encode(ctx, messages, wwpid=self.pid))
        except PoolError as e:
            raise ExchangeError(str(e)) from e
        return codec.decode(reply)

    async def worker_info(self, rr_version: str) -> list[dict[str, Any]]:
        """The GetWorkerInfo handshake (§4): one JSON payload per PHP task-queue worker."""
        msg = codec.command("GetWorkerInfo", {"rr_version": rr_version, "ww_pid": self.pid})
        try:
            answer = await self.exchange(codec.Context(), [msg])
        except (ExchangeError, codec.EnvelopeError) as e:
            raise WorkerInfoError(f"unable to read worker info: {e}") from e
        if len(answer) != 1:
            raise WorkerInfoError("unable to read worker info")
        if answer[0].id != 0:
            raise WorkerInfoError(f"fetch confirmation missing, need ID: 0, got: {answer[0].id}")
        if answer[0].HasField("failure"):
            raise WorkerInfoError(f"unable to read worker info: {answer[0].failure.message}")
        entries = []
        for p in codec.payloads(answer[0]):
            try:
                entry = json.loads(p.data)
            except ValueError as e:
                raise WorkerInfoError(f"unable to read worker info: {e}") from e
            if not isinstance(entry, dict):
                raise WorkerInfoError("unable to read worker info: entry is not an object")
            entries.append(entry)
        if not entries:
            raise WorkerInfoError("worker info should contain at least 1 worker")
        return entries


class ExchangeError(Exception):
    """The WW exchange failed (PHP error frame, crashed process, stopped pool)."""


def workflow_names(entry: dict[str, Any]) -> list[str]:
    """Workflow names of one entry; 2.8.x PHP sends ``Name``, 2.18 ``name`` (§0.1)."""
    out = []
    for w in entry.get("Workflows") or []:
        if isinstance(w, dict):
            n = w.get("name", w.get("Name"))
            if n:
                out.append(str(n))
    return out


def activity_names(entry: dict[str, Any]) -> list[str]:
    return [str(a.get("Name") or a.get("name")) for a in entry.get("Activities") or []
            if isinstance(a, dict) and (a.get("Name") or a.get("name"))]
