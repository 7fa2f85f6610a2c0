"""Turning a jobs worker's reply body into an action (spec/jobs.md §5.1-5.2)."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import Any

from rr.pipeline.job import Headers


class Action(enum.Enum):
    ACK = "ack"
    NACK = "nack"          # NackWithOptions(requeue, delay)
    REQUEUE = "requeue"    # Requeue(headers, delay)


class Outcome(enum.Enum):
    """Metric outcome of a handled job (v6 accounting)."""

    OK = "ok"
    ERR = "err"
    REQUEUE = "requeue"


@dataclass(slots=True)
class Reply:
    action: Action
    outcome: Outcome
    requeue: bool = False
    delay: int = 0
    headers: Headers | None = None
    message: str = ""
    # set when the reply could not be understood (logged as "response handler error")
    invalid: str = ""
    # set for an unknown type number (logged as a warning)
    unknown_type: int | None = None
    explicit_failure: bool = field(default=False)


ACK_REPLY = Reply(Action.ACK, Outcome.OK)

#: the exact bodies the PHP SDK sends for ack (Task::ack / Consumer's default): matched
#: byte for byte so that the common case skips JSON decoding
_ACK_BODIES = frozenset(b'{"type":%d,"data":%s}' % (kind, data)
                        for kind in (0, 2) for data in (b"[]", b"{}", b"null"))


def _headers(value: Any) -> Headers | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        # RoadRunner expects an object; a JSON array (a PHP list) fails to decode.
        raise ValueError("headers must be a JSON object of string -> list of strings")
    out: Headers = {}
    for k, v in value.items():
        if isinstance(v, list) and all(isinstance(x, str) for x in v):
            out[str(k)] = list(v)
        else:
            raise ValueError(f"header {k!r} must be a list of strings")
    return out


def _int(value: Any, name: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer")
    return value


def _bool(value: Any, name: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be a boolean")
    return value


def parse_reply(body: bytes) -> Reply:
    """Never raises: an unreadable reply acks the job (RoadRunner avoids a redelivery loop)."""
    if not body or (type(body) is bytes and body in _ACK_BODIES):
        return ACK_REPLY
    try:
        doc = json.loads(body)
        if not isinstance(doc, dict):
            raise ValueError("reply must be a JSON object")
        kind = doc.get("type", 0)
        if isinstance(kind, bool) or not isinstance(kind, int):
            raise ValueError("type must be an integer")
        data = doc.get("data")
        if kind in (0, 2):
            return ACK_REPLY
        if data is None or data == []:
            data = {}
        if not isinstance(data, dict):
            raise ValueError("data must be a JSON object")
        message = data.get("message", "")
        if message is None:
            message = ""
        if not isinstance(message, str):
            raise ValueError("message must be a string")
        requeue = _bool(data.get("requeue"), "requeue")
        delay = max(0, _int(data.get("delay_seconds"), "delay_seconds"))
        headers = _headers(data.get("headers"))
    except (ValueError, TypeError) as e:
        return Reply(Action.ACK, Outcome.ERR, invalid=str(e))
    if kind == 1:
        if requeue:
            return Reply(Action.REQUEUE, Outcome.REQUEUE, True, delay, headers, message,
                         explicit_failure=True)
        # type 1 without requeue: RoadRunner acks ("handled") and logs the error
        return Reply(Action.ACK, Outcome.ERR, False, delay, headers, message,
                     explicit_failure=True)
    if kind == 3:
        return Reply(Action.NACK, Outcome.REQUEUE if requeue else Outcome.ERR, requeue, delay,
                     None, message, explicit_failure=True)
    if kind == 4:
        return Reply(Action.REQUEUE, Outcome.REQUEUE, True, delay, headers, message,
                     explicit_failure=True)
    return Reply(Action.ACK, Outcome.OK, unknown_type=kind)
