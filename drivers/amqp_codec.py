"""RoadRunner's AMQP job envelope (spec/drivers.md §2.4, §2.6): job <-> message headers.

Kept apart from the driver so the exact wire encoding can be tested without a broker.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import logging
import uuid
from collections.abc import Mapping
from typing import Any

import pamqp.encode

from rr.pipeline.job import Headers, Job, headers_from_json

log = logging.getLogger("rr.jobs.amqp")

#: the reserved envelope names; stripped from the headers a worker sees
ENVELOPE_KEYS = frozenset(
    {"rr_id", "rr_job", "rr_pipeline", "rr_headers", "rr_delay", "rr_priority", "rr_auto_ack"})
ROUTING_KEY_HEADER = "x-routing-key"
DEDUCED = "deduced_by_rr"


class Int32(int):
    """An int that goes on the wire as AMQP signed 32-bit (`I`)."""


class Int64(int):
    """An int that goes on the wire as AMQP signed 64-bit (`l`)."""


def _install_fixed_width_ints() -> None:
    """Teach pamqp to honour Int32/Int64.

    pamqp picks the smallest integer type (`b` for small values), and RoadRunner's
    consumer ignores 8-bit integers for rr_delay / rr_priority: a priority written as `b`
    would read as 0 (the highest) on a real RoadRunner. Plain ints keep pamqp's choice.
    """
    original = pamqp.encode.table_integer
    if getattr(original, "_rr_fixed_width", False):
        return

    def table_integer(value: int) -> bytes:
        if type(value) is Int32:
            return b"I" + pamqp.encode.long_int(value)
        if type(value) is Int64:
            return b"l" + pamqp.encode.long_long_int(value)
        return original(value)

    table_integer._rr_fixed_width = True  # type: ignore[attr-defined]
    pamqp.encode.table_integer = table_integer


_install_fixed_width_ints()


def routing_key_for(job: Job, default: str) -> str:
    """The header ``x-routing-key`` wins when it has exactly one non-empty value; it is
    removed from the job either way it is used, as RoadRunner does."""
    values = job.headers.get(ROUTING_KEY_HEADER)
    if values is not None and len(values) == 1 and values[0]:
        del job.headers[ROUTING_KEY_HEADER]
        return values[0]
    return default


def envelope(job: Job, pipeline: str) -> dict[str, Any]:
    """The AMQP header table of a published job: exactly the rr_* envelope."""
    return {
        "rr_id": job.id,
        "rr_job": job.name,
        "rr_pipeline": pipeline,
        # byte array (`x`): RoadRunner only decodes rr_headers when it arrives as one
        "rr_headers": bytearray(json.dumps(job.headers, separators=(",", ":")).encode()),
        "rr_delay": Int32(job.delay),
        "rr_priority": Int64(job.priority),
        "rr_auto_ack": bool(job.auto_ack),
    }


def _stringify(key: str, value: Any, out: Headers) -> None:
    """RoadRunner's header conversion of one AMQP header value (spec §2.6)."""
    if isinstance(value, bool):
        out[key] = ["true" if value else "false"]
    elif isinstance(value, int):
        out[key] = [str(value)]
    elif isinstance(value, float):
        out[key] = [f"{value:.5f}"]
    elif isinstance(value, decimal.Decimal):
        out[key] = [format(value, "f")]
    elif isinstance(value, (bytes, bytearray)):
        out[key] = [bytes(value).decode("utf-8", "replace")]
    elif isinstance(value, str):
        out[key] = [value]
    elif isinstance(value, dt.datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        out[key] = [stamp.isoformat().replace("+00:00", "Z")]
    elif isinstance(value, list):
        items: list[str] = []
        for item in value:
            tmp: Headers = {}
            _stringify(key, item, tmp)
            items.extend(tmp.get(key, []))
        out[key] = items
    elif isinstance(value, Mapping):
        for sub_key, sub_value in value.items():
            _stringify(str(sub_key), sub_value, out)
    # anything else (void) is dropped, as RoadRunner does


def _as_int(value: Any, key: str) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        if value is not None:
            log.warning("amqp header %s has an unexpected type %s; ignored",
                        key, type(value).__name__)
        return None
    return int(value)


def job_from_message(headers: Mapping[str, Any] | None, body: bytes, pipeline: str,
                     pipeline_priority: int) -> Job:
    """Build a job from a received message (ours, RoadRunner's, or a foreign producer's).

    The rr_* keys are not copied into the visible headers: RoadRunner leaks them, which
    makes them nest on every requeue; stripping them breaks no SDK code (spec §2.6).
    """
    table = dict(headers or {})
    visible: Headers = {}
    for key, value in table.items():
        if key not in ENVELOPE_KEYS:
            _stringify(key, value, visible)
    raw_headers = table.get("rr_headers")
    if isinstance(raw_headers, (bytes, bytearray, str)) and raw_headers:
        try:
            decoded = json.loads(raw_headers)
        except ValueError:
            log.warning("amqp header rr_headers is not JSON; ignored")
            decoded = None
        headers_from_json(decoded, visible)
    job_id = table.get("rr_id")
    name = table.get("rr_job")
    origin = table.get("rr_pipeline")
    priority = _as_int(table.get("rr_priority"), "rr_priority")
    delay = _as_int(table.get("rr_delay"), "rr_delay")
    return Job(
        id=_text(job_id) or str(uuid.uuid4()),
        name=_text(name) or DEDUCED,
        payload=body,
        headers=visible,
        pipeline=_text(origin) or pipeline,
        priority=pipeline_priority if priority is None else priority,
        delay=delay or 0,
        auto_ack=table.get("rr_auto_ack") is True,
    )


def _text(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return "" if value is None else str(value)
