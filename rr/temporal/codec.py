"""Worker frames of the temporal plugin (spec/temporal.md §3.2–§3.4).

Server → PHP: context JSON as the frame header, a serialized ``temporal.v1.Frame`` as the
body. PHP → server: a ``Frame`` body (possibly empty = no messages). Decoding failures
are ``EnvelopeError`` so callers can fail just the task that got the bad answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload, Payloads

from rr.pool.payload import Payload as WorkerPayload
from rr.temporal.proto import Frame, Message

JSON_PLAIN = b"json/plain"


class EnvelopeError(Exception):
    """A PHP answer that is not a valid ``temporal.v1.Frame``."""


@dataclass(slots=True)
class Context:
    """The frame header Go marshals for every frame, in Go's key order (§3.3)."""

    task_queue: str = ""
    tick_time: str = ""
    replay: bool = False
    history_length: int = 0
    history_size: int = 0
    rr_id: str = ""
    continue_as_new_suggested: bool = False

    def to_json(self) -> bytes:
        d: dict[str, Any] = {}
        if self.task_queue:
            d["taskQueue"] = self.task_queue
        if self.tick_time:
            d["tickTime"] = self.tick_time
        if self.replay:
            d["replay"] = True
        if self.history_length:
            d["history_length"] = self.history_length
        if self.history_size:
            d["history_size"] = self.history_size
        d["rr_id"] = self.rr_id
        d["continue_as_new_suggested"] = self.continue_as_new_suggested
        return json.dumps(d, separators=(",", ":")).encode()

    def stamp(self, m: Any) -> None:
        """Fields 7–13 of every message sent are copied from the context (§3.4)."""
        m.history_length = self.history_length
        m.run_id = self.rr_id
        m.task_queue = self.task_queue
        m.tick_time = self.tick_time
        m.replay = self.replay
        m.continue_as_new_suggested = self.continue_as_new_suggested
        m.history_size = self.history_size


def encode(ctx: Context, messages: list[Any], wwpid: int = 0) -> WorkerPayload:
    for m in messages:
        ctx.stamp(m)
        m.wwpid = wwpid
    return WorkerPayload(ctx.to_json(), Frame(messages=messages).SerializeToString())


def decode(reply: WorkerPayload) -> list[Any]:
    try:
        return list(Frame.FromString(reply.body).messages)
    except DecodeError as e:
        raise EnvelopeError(f"malformed temporal.v1.Frame from the PHP worker: {e}") from e


def command(name: str, options: dict[str, Any] | None = None, *, msg_id: int = 0,
            payloads: list[Payload] | None = None, header: Any = None,
            failure: Any = None) -> Any:
    m = Message(id=msg_id, command=name,
                options=json.dumps(options or {}, separators=(",", ":")).encode())
    if payloads is not None:
        m.payloads.payloads.extend(payloads)
    if header is not None:
        m.header.CopyFrom(header)
    if failure is not None:
        m.failure.CopyFrom(failure)
    return m


def response(msg_id: int, payloads: list[Payload] | None = None, failure: Any = None) -> Any:
    m = Message(id=msg_id)
    if failure is not None:
        m.failure.CopyFrom(failure)
    elif payloads is not None:
        m.payloads.payloads.extend(payloads)
    return m


def options(m: Any) -> dict[str, Any]:
    if not m.options:
        return {}
    try:
        d = json.loads(m.options)
    except ValueError as e:
        raise EnvelopeError(f"{m.command}: options are not JSON: {e}") from e
    if not isinstance(d, dict):
        raise EnvelopeError(f"{m.command}: options must be a JSON object")
    return d


def json_payload(value: Any) -> Payload:
    return Payload(metadata={"encoding": JSON_PLAIN},
                   data=json.dumps(value, separators=(",", ":")).encode())


def payloads(m: Any) -> list[Payload]:
    return list(m.payloads.payloads) if m.HasField("payloads") else []


def as_payloads(items: list[Payload]) -> Payloads:
    return Payloads(payloads=items)
