"""The unit exchanged with a worker: a context (metadata) and a body."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Payload:
    context: bytes = b""
    body: bytes = b""
    # codec flags of the frame (0, CODEC_JSON, CODEC_PROTO, ...)
    flags: int = 0
    # True when more frames of this response follow (worker STREAM bit)
    stream: bool = False
