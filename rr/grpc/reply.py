"""What the worker answered → what the gRPC client gets (spec/grpc.md §5).

Pure functions over bytes so the mapping is unit-tested without a server: the reply
context (flat header map, or ``headers``/``trailers`` JSON texts, or ``error`` with a
base64 google.rpc.Status) and ERROR-frame texts (``code|:|message|:|details``).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from dataclasses import dataclass, field

from google.protobuf import any_pb2
from google.protobuf.message import DecodeError
from google.rpc import status_pb2

from rr.grpc.status import INTERNAL, UNKNOWN, Failure

Metadata = list[tuple[str, str | bytes]]

# keys grpcio (and HTTP/2) accept in metadata; reserved ones are never sent from PHP
_KEY = re.compile(r"^[0-9a-z_.\-]+$")
_RESERVED = frozenset({"content-type", "te", "user-agent", "grpc-status", "grpc-message",
                       "grpc-status-details-bin", "grpc-timeout", "grpc-encoding",
                       "grpc-accept-encoding", "grpc-message-type"})
LEGACY_SEP = "|:|"


@dataclass(slots=True)
class Reply:
    body: bytes
    headers: Metadata = field(default_factory=list)
    trailers: Metadata = field(default_factory=list)


def decode(context: bytes, body: bytes, log: logging.Logger) -> Reply:
    """The reply frame of a worker; raises Failure for an ``error`` or a broken context."""
    if not context or context == b"{}":
        return Reply(body)
    try:
        obj = json.loads(context)
    except ValueError as e:
        raise Failure(UNKNOWN, f"invalid character in the reply context: {e}") from None
    if not isinstance(obj, dict):
        raise Failure(UNKNOWN, "json: cannot unmarshal the reply context into "
                      "map[string]string: not an object")
    for k, v in obj.items():
        if not isinstance(v, str):
            raise Failure(UNKNOWN, f"json: cannot unmarshal {type(v).__name__} into Go value "
                          f"of type string (key {k!r})")
    if "headers" in obj or "trailers" in obj:
        reply = Reply(body, _json_map(obj.get("headers", ""), "headers", log),
                      _json_map(obj.get("trailers", ""), "trailers", log))
    else:
        reply = Reply(body, metadata({k: v for k, v in obj.items() if k != "error"}, log))
    if "error" in obj:
        failure = status_failure(obj["error"])
        if failure is not None:
            raise _Carrying(failure, reply)
        reply.body = b""  # code 0: success with an empty message
    return reply


class _Carrying(Failure):
    """A Failure that still sends the headers/trailers PHP set beside the error."""

    def __init__(self, f: Failure, reply: Reply) -> None:
        super().__init__(f.code, f.message, f.details)
        self.reply = reply


def carried(f: Failure) -> Reply | None:
    return f.reply if isinstance(f, _Carrying) else None


def status_failure(b64: str) -> Failure | None:
    """``{"error": base64(google.rpc.Status)}`` → the status (None for code 0)."""
    try:
        raw = base64.b64decode(b64, validate=True)
        st = status_pb2.Status.FromString(raw)
    except (binascii.Error, ValueError) as e:
        raise Failure(UNKNOWN, f"illegal base64 data in the error: {e}") from None
    except DecodeError as e:
        raise Failure(UNKNOWN, f"proto: cannot parse the error status: {e}") from None
    if st.code == 0:
        return None
    return Failure(st.code, st.message, raw if st.details else b"")


def error_frame(text: str, full: str) -> Failure:
    """An ERROR frame from the worker: ``code|:|message|:|Any…`` (older SDK convention,
    also produced when an exception message has that shape) or INTERNAL with the full
    pool error text."""
    if LEGACY_SEP not in text:
        return Failure(INTERNAL, full)
    parts = text.split(LEGACY_SEP)
    if not parts[0].isdigit():
        return Failure(UNKNOWN, full)
    code = int(parts[0]) or INTERNAL
    message = parts[1] if len(parts) > 1 else ""
    details = []
    for chunk in parts[2:]:
        try:
            details.append(any_pb2.Any.FromString(chunk.encode("utf-8", "surrogateescape")))
        except DecodeError:
            continue
    raw = b""
    if details:
        raw = status_pb2.Status(code=code, message=message, details=details).SerializeToString()
    return Failure(code, message, raw)


def metadata(pairs: dict[str, str], log: logging.Logger) -> Metadata:
    """PHP's header map → grpcio metadata; names lower-cased, invalid entries dropped with
    a warning instead of failing the call."""
    out: Metadata = []
    for k, v in pairs.items():
        key = k.lower()
        if not _KEY.match(key) or key in _RESERVED:
            log.warning("response header dropped: invalid or reserved name",
                        extra={"fields": {"name": k}})
            continue
        if key.endswith("-bin"):
            out.append((key, v.encode("utf-8", "surrogateescape")))
        elif v.isascii() and v.isprintable():
            out.append((key, v))
        else:
            log.warning("response header dropped: value is not printable ASCII",
                        extra={"fields": {"name": k}})
    return out


def _json_map(text: str, what: str, log: logging.Logger) -> Metadata:
    if not text:
        return []
    try:
        obj = json.loads(text)
    except ValueError as e:
        log.error(f"cannot decode the response {what}", extra={"fields": {"error": str(e)}})
        return []
    if not isinstance(obj, dict):
        log.error(f"cannot decode the response {what}: not an object")
        return []
    strings = {}
    for k, v in obj.items():
        if isinstance(v, str):
            strings[k] = v
        else:
            log.warning(f"response {what} value is not a string, skipped",
                        extra={"fields": {"name": k}})
    return metadata(strings, log)
