"""A job as it travels through rr, independent of any broker."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii as _quote  # type: ignore[attr-defined]
from typing import Any

Headers = dict[str, list[str]]

_compact = json.JSONEncoder(separators=(",", ":"))


def headers_from_json(decoded: Any, into: Headers | None = None) -> Headers:
    """A decoded ``rr_headers`` object -> headers (every value a list of strings; a
    scalar becomes a one-item list, null is skipped, anything but an object is none)."""
    headers: Headers = {} if into is None else into
    if isinstance(decoded, dict):
        for key, values in decoded.items():
            if isinstance(values, list):
                headers[str(key)] = [str(v) for v in values]
            elif values is not None:
                headers[str(key)] = [str(values)]
    return headers


@dataclass(slots=True)
class Job:
    id: str
    name: str
    payload: bytes = b""
    headers: Headers = field(default_factory=dict)
    pipeline: str = ""
    priority: int = 0          # 0 = inherit the pipeline's priority
    delay: int = 0             # seconds
    auto_ack: bool = False
    # Kafka-only options (jobs.v1.Options fields 7-10)
    topic: str = ""
    metadata: str = ""
    offset: int = 0
    partition: int = 0

    def context(self, driver: str, **extra: Any) -> dict[str, Any]:
        """The context JSON object sent to the worker (spec/jobs.md §4.1).

        ``extra`` carries driver-specific keys (queue, topic, partition, offset)."""
        ctx: dict[str, Any] = {
            "id": self.id,
            "job": self.name,
            "driver": driver,
            "headers": self.headers,
            "pipeline": self.pipeline,
        }
        ctx.update(extra)
        return ctx

    def context_bytes(self, driver: str, **extra: Any) -> bytes:
        """Byte for byte ``json.dumps(self.context(...), separators=(",", ":"))``, built
        from pieces: the generic encoder walking a fresh dict is a visible share of the
        per-job cost, while the keys are constant and the values mostly plain strings."""
        headers = self.headers
        parts = ['{"id":', _quote(self.id), ',"job":', _quote(self.name), ',"driver":',
                 _quote(driver), ',"headers":', _compact.encode(headers) if headers else "{}",
                 ',"pipeline":', _quote(self.pipeline)]
        for key, value in extra.items():
            parts.append(",")
            parts.append(_quote(key))
            parts.append(":")
            parts.append(_quote(value) if type(value) is str else _compact.encode(value))
        parts.append("}")
        return "".join(parts).encode()

    def requeued(self, headers: Headers, delay: int) -> Job:
        """The copy a requeue publishes: same job, these headers, this delay (seconds)."""
        return Job(id=self.id, name=self.name, payload=self.payload, headers=headers,
                   pipeline=self.pipeline, priority=self.priority, delay=max(0, int(delay)),
                   auto_ack=self.auto_ack)

    def merged_headers(self, changes: Headers | None) -> Headers:
        """RoadRunner's requeue header merge: keys in ``changes`` replace, others stay."""
        merged = {k: list(v) for k, v in self.headers.items()}
        if changes:
            for k, v in changes.items():
                merged[k] = list(v)
        return merged
