"""Client protocol codes (spec §B.8): error replies and disconnect close frames, and the
``Closed`` exception that ends a connection with one."""

from __future__ import annotations

from typing import Any

# disconnects (close frames): code, reason
CONNECTION_CLOSED = (3000, "connection closed")
SHUTDOWN = (3001, "shutdown")
CONNECTION_EXPIRED = (3005, "connection expired")
SUBSCRIPTION_EXPIRED = (3006, "subscription expired")
SLOW = (3008, "slow")
WRITE_ERROR = (3009, "write error")
NO_PONG = (3012, "no pong")
INVALID_TOKEN = (3500, "invalid token")
BAD_REQUEST = (3501, "bad request")
STALE = (3502, "stale")
FORCE_DISCONNECT = (3503, "force disconnect")
NOT_AVAILABLE = (3508, "not available")

# error replies: code, message
INTERNAL = (100, "internal server error")
UNAUTHORIZED = (101, "unauthorized")
PERMISSION_DENIED = (103, "permission denied")
ALREADY_SUBSCRIBED = (105, "already subscribed")
LIMIT_EXCEEDED = (106, "limit exceeded")
BAD_REQUEST_ERR = (107, "bad request")
NOT_AVAILABLE_ERR = (108, "not available")
TOKEN_EXPIRED = (109, "token expired")
UNRECOVERABLE = (112, "unrecoverable position")

# unsubscribe push: a client-side subscription that expired (the client resubscribes)
UNSUBSCRIBE_EXPIRED = (2501, "subscription expired")


class ReplyError(Exception):
    def __init__(self, code: int, message: str, temporary: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.temporary = temporary

    def json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.temporary:
            out["temporary"] = True
        return out


class Closed(Exception):
    """Ends the connection with a close frame."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def require_channel(body: dict[str, Any]) -> str:
    """A command's ``channel``; empty or not a string is a bad request (3501)."""
    channel = body.get("channel")
    if not isinstance(channel, str) or not channel:
        raise Closed(*BAD_REQUEST)
    return channel
