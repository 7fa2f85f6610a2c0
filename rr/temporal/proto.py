"""The ``temporal.v1`` envelope (spec/temporal.md §3.4), built at import time.

Its fields reference Temporal's own ``Failure``, ``Payloads`` and ``Header`` messages,
which ``temporalio`` already registers in the default descriptor pool; describing the
envelope here (instead of shipping generated code) keeps one copy of those types.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from temporalio.api.common.v1 import message_pb2 as _common  # noqa: F401  (registers types)
from temporalio.api.failure.v1 import message_pb2 as _failure  # noqa: F401
from temporalio.api.history.v1 import message_pb2 as _history  # noqa: F401

_F = descriptor_pb2.FieldDescriptorProto

# (name, number, type, type_name) of temporal.v1.Message
_MESSAGE_FIELDS: tuple[tuple[str, int, int, str], ...] = (
    ("id", 1, _F.TYPE_UINT64, ""),
    ("command", 2, _F.TYPE_STRING, ""),
    ("options", 3, _F.TYPE_BYTES, ""),
    ("failure", 4, _F.TYPE_MESSAGE, ".temporal.api.failure.v1.Failure"),
    ("payloads", 5, _F.TYPE_MESSAGE, ".temporal.api.common.v1.Payloads"),
    ("header", 6, _F.TYPE_MESSAGE, ".temporal.api.common.v1.Header"),
    ("history_length", 7, _F.TYPE_INT64, ""),
    ("run_id", 8, _F.TYPE_STRING, ""),
    ("task_queue", 9, _F.TYPE_STRING, ""),
    ("tick_time", 10, _F.TYPE_STRING, ""),
    ("replay", 11, _F.TYPE_BOOL, ""),
    ("continue_as_new_suggested", 12, _F.TYPE_BOOL, ""),
    ("history_size", 13, _F.TYPE_INT64, ""),
    ("wwpid", 14, _F.TYPE_UINT64, ""),
)


def _build() -> tuple[Any, ...]:
    pool = descriptor_pool.Default()
    name = "rr/temporal/v1/temporal.proto"
    try:
        pool.FindFileByName(name)
    except KeyError:
        fd = descriptor_pb2.FileDescriptorProto(
            name=name, package="temporal.v1", syntax="proto3",
            dependency=["temporal/api/failure/v1/message.proto",
                        "temporal/api/common/v1/message.proto",
                        "temporal/api/history/v1/message.proto"])
        msg = fd.message_type.add(name="Message")
        for fname, num, ftype, tname in _MESSAGE_FIELDS:
            f = msg.field.add(name=fname, number=num, type=ftype, label=_F.LABEL_OPTIONAL)
            if tname:
                f.type_name = tname
        frame = fd.message_type.add(name="Frame")
        frame.field.add(name="messages", number=1, type=_F.TYPE_MESSAGE,
                        label=_F.LABEL_REPEATED, type_name=".temporal.v1.Message")
        for mname, fields in _REPLAY_MESSAGES:
            m = fd.message_type.add(name=mname)
            for fname, num, ftype, tname in fields:
                f = m.field.add(name=fname, number=num, type=ftype, label=_F.LABEL_OPTIONAL)
                if tname:
                    f.type_name = tname
        pool.Add(fd)
    return tuple(message_factory.GetMessageClass(pool.FindMessageTypeByName(f"temporal.v1.{n}"))
                 for n in ("Frame", "Message", "ReplayRequest", "ReplayResponse", "History"))


# the replay RPC messages (§10); Status has the shape of roadrunner's common.v1.Status
_REPLAY_MESSAGES: tuple[tuple[str, tuple[tuple[str, int, int, str], ...]], ...] = (
    ("Status", (("code", 1, _F.TYPE_INT32, ""), ("message", 2, _F.TYPE_STRING, ""))),
    ("ReplayRequest", (
        ("workflow_execution", 1, _F.TYPE_MESSAGE, ".temporal.api.common.v1.WorkflowExecution"),
        ("workflow_type", 2, _F.TYPE_MESSAGE, ".temporal.api.common.v1.WorkflowType"),
        ("save_path", 3, _F.TYPE_STRING, ""),
        ("last_event_id", 4, _F.TYPE_INT64, ""))),
    ("ReplayResponse", (("status", 1, _F.TYPE_MESSAGE, ".temporal.v1.Status"),)),
    ("History", (
        ("history", 1, _F.TYPE_MESSAGE, ".temporal.api.history.v1.History"),
        ("workflow_type", 2, _F.TYPE_MESSAGE, ".temporal.api.common.v1.WorkflowType"))),
)

Frame, Message, ReplayRequest, ReplayResponse, History = _build()
