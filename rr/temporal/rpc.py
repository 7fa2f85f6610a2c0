"""The ``temporal.*`` RPC service (spec/temporal.md §10): heartbeats and names (JSON),
and the replay methods ``Temporal\\Testing\\Replay\\WorkflowReplayer`` calls (proto).
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

    register_replay(rpc, plugin)
    rpc.json("temporal.RecordActivityHeartbeat", heartbeat)
    rpc.json("temporal.GetActivityNames", activity_names)
    rpc.json("temporal.GetWorkflowNames", workflow_names)
    rpc.json("temporal.UpdateAPIKey", update_api_key)


def register_replay(rpc: Registry, plugin: TemporalPlugin) -> None:
    from rr.temporal import replay as rp
    from rr.temporal.proto import History, ReplayRequest, ReplayResponse

    def status(code: int, message: str = "") -> Any:
        r = ReplayResponse()
        r.status.code = code
        r.status.message = message
        return r

    async def answer(op: Any) -> Any:
        try:
            await op
        except rp.ReplayFailure as e:
            return status(e.code, str(e))
        except (OSError, ValueError) as e:  # unreadable / malformed history files
            return status(rp.INVALID_ARGUMENT, str(e))
        except Exception as e:  # the client or core failed: still a status, not an error
            return status(rp.INTERNAL, str(e))
        return status(rp.OK)

    async def fetch(req: Any) -> list[Any]:
        if plugin.conn.client is None:
            raise rp.ReplayFailure(rp.FAILED_PRECONDITION, rp.NOT_INITIALIZED)
        ex = req.workflow_execution
        h = plugin.conn.client.get_workflow_handle(ex.workflow_id, run_id=ex.run_id)
        return list((await h.fetch_history()).events)

    async def replay_workflow(req: Any) -> Any:
        ex, name = req.workflow_execution, req.workflow_type.name
        if not ex.run_id or not ex.workflow_id or not name:
            return status(rp.INVALID_ARGUMENT,
                          "run_id, workflow_id or workflow_name should not be empty")

        async def op() -> None:
            await plugin.replayer.replay(ex.workflow_id, name, await fetch(req))

        return await answer(op())

    async def download(req: Any) -> Any:
        ex = req.workflow_execution
        if not ex.run_id or not ex.workflow_id or not req.save_path:
            return status(rp.INVALID_ARGUMENT,
                          "run_id, workflow_id or save_path should not be empty")

        async def op() -> None:
            rp.write_history(req.save_path, await fetch(req))

        return await answer(op())

    async def from_json(req: Any) -> Any:
        name = req.workflow_type.name
        if not name or not req.save_path:
            return status(rp.INVALID_ARGUMENT, "workflow_name and save_path should not be empty")

        async def op() -> None:
            events = rp.read_history(req.save_path, "replay", req.last_event_id)
            await plugin.replayer.replay("replay", name, events)

        return await answer(op())

    async def history(req: Any) -> Any:
        name = req.workflow_type.name
        if not name or not req.history.events:
            return status(rp.INVALID_ARGUMENT, "workflow_name and/or history should not be empty")
        return await answer(plugin.replayer.replay("replay", name, list(req.history.events)))

    rpc.proto("temporal.ReplayWorkflow", ReplayRequest, replay_workflow)
    rpc.proto("temporal.DownloadWorkflowHistory", ReplayRequest, download)
    rpc.proto("temporal.ReplayFromJSON", ReplayRequest, from_json)
    rpc.proto("temporal.ReplayWorkflowHistory", History, history)
