"""gRPC status codes: grpcio's enum by number and Go's names (metric labels, spec §9)."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

BY_NUMBER: dict[int, grpc.StatusCode] = {c.value[0]: c for c in grpc.StatusCode}

GO_NAMES = ("OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound",
            "AlreadyExists", "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
            "Aborted", "OutOfRange", "Unimplemented", "Internal", "Unavailable", "DataLoss",
            "Unauthenticated")


def go_name(code: int) -> str:
    return GO_NAMES[code] if 0 <= code < len(GO_NAMES) else f"Code({code})"


@dataclass(slots=True)
class Failure(Exception):
    """Ends a call with this status; ``details`` is the serialized google.rpc.Status sent
    as ``grpc-status-details-bin`` (only when it carries details)."""

    code: int
    message: str
    details: bytes = b""

    @property
    def status_code(self) -> grpc.StatusCode:
        # grpcio can only send the 17 standard codes; anything else is UNKNOWN
        return BY_NUMBER.get(self.code, grpc.StatusCode.UNKNOWN)


CANCELLED = 1
UNKNOWN = 2
DEADLINE_EXCEEDED = 4
RESOURCE_EXHAUSTED = 8
UNIMPLEMENTED = 12
INTERNAL = 13
