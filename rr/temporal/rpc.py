"""The ``temporal.*`` RPC service (spec/temporal.md §10) — the methods PHP workers call.

The replay methods (ReplayWorkflow, DownloadWorkflowHistory, ReplayFromJSON,
ReplayWorkflowHistory) are not provided yet.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any

from rr.rpc.registry import Registry, RPCError

if TYPE_CHECKING:
    from rr.temporal.plugin import TemporalPlugin


def _b64(value: Any, key: str) -> bytes:
    if not value:
        return b""
    if not isinstance(value, str):
        raise RPCError(f"{key}: expected a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as e:
        raise RPCError(f"{key}: invalid base64: {e}") from None


def register(rpc: Registry, plugin: TemporalPlugin) -> None:
    async def heartbeat(arg: Any) -> dict[str, bool]:
        if not isinstance(arg, dict):
            raise RPCError("expected {\"taskToken\":…,\"details\":…}")
        if not plugin.workers:
            raise RPCError("no activity definition registered")
        token = _b64(arg.get("taskToken") or arg.get("TaskToken"), "taskToken")
        details = _b64(arg.get("details") or arg.get("Details"), "details")
        r = plugin.heartbeat(token, details)
        if r is None:
            raise RPCError("heartbeat on non running activity")
        return r

    async def activity_names(_arg: Any) -> list[str]:
        return plugin.activity_names()

    async def workflow_names(_arg: Any) -> list[str]:
        return plugin.workflow_names()

    async def update_api_key(arg: Any) -> bool:
        return plugin.conn.update_api_key(arg if isinstance(arg, str) else "")

    rpc.json("temporal.RecordActivityHeartbeat", heartbeat)
    rpc.json("temporal.GetActivityNames", activity_names)
    rpc.json("temporal.GetWorkflowNames", workflow_names)
    rpc.json("temporal.UpdateAPIKey", update_api_key)
