"""A job as it travels through rr, independent of any broker."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

Headers = dict[str, list[str]]


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
        return json.dumps(self.context(driver, **extra), separators=(",", ":")).encode()

    def merged_headers(self, changes: Headers | None) -> Headers:
        """RoadRunner's requeue header merge: keys in ``changes`` replace, others stay."""
        merged = {k: list(v) for k, v in self.headers.items()}
        if changes:
            for k, v in changes.items():
                merged[k] = list(v)
        return merged
