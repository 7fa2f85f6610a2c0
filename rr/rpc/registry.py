"""The RPC method registry that plugins add their methods to.

A handler gets the raw argument bytes and the request codec and returns the reply bytes
in that same codec; helpers below cover the JSON and protobuf cases. Raising any
exception produces an error frame whose text is ``str(exc)``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from google.protobuf.message import DecodeError, Message

from rr.goridge.frame import CODEC_JSON, CODEC_PROTO, CODEC_RAW

Handler = Callable[[bytes, int], Awaitable[bytes]]
# Python's JSON decoder recurses once per nesting level; a hostile argument nested deeper
# than the interpreter's limit gets this answer instead of a RecursionError traceback
NESTED = "invalid JSON argument: nested too deeply"
M = TypeVar("M", bound=Message)


class RPCError(Exception):
    """An error reply; the message goes to the client verbatim."""


class Registry:
    def __init__(self) -> None:
        self._methods: dict[str, Handler] = {}

    def register(self, method: str, handler: Handler) -> None:
        if method in self._methods:
            raise ValueError(f"rpc method {method} registered twice")
        self._methods[method] = handler

    def get(self, method: str) -> Handler | None:
        return self._methods.get(method)

    def services(self) -> set[str]:
        return {m.split(".", 1)[0] for m in self._methods}

    def methods(self) -> list[str]:
        return sorted(self._methods)

    def json(self, method: str, fn: Callable[[Any], Awaitable[Any]]) -> None:
        """A method whose argument and reply are JSON values (raw codec passes bytes)."""

        async def handler(arg: bytes, codec: int) -> bytes:
            if codec == CODEC_RAW:
                value: Any = arg
            elif not arg:
                value = None
            else:
                try:
                    value = json.loads(arg)
                except ValueError as e:
                    raise RPCError(f"invalid JSON argument: {e}") from None
                except RecursionError:
                    raise RPCError(NESTED) from None
            result = await fn(value)
            if codec == CODEC_RAW:
                if isinstance(result, bytes):
                    return result
                if isinstance(result, str):
                    return result.encode()
                raise RPCError("unknown Raw payload type")
            return json.dumps(result, separators=(",", ":")).encode()

        self.register(method, handler)

    def proto(self, method: str, request: type[M], fn: Callable[[M], Awaitable[Message | None]],
              json_ok: bool = True) -> None:
        """A protobuf method. With json_ok the same method also answers the JSON codec
        (argument/reply mapped with protobuf's JSON mapping)."""
        from google.protobuf import json_format

        async def handler(arg: bytes, codec: int) -> bytes:
            msg = request()
            if codec in (CODEC_PROTO, CODEC_RAW):
                try:
                    msg.ParseFromString(arg)
                except DecodeError as e:
                    raise RPCError(f"proto: cannot parse invalid wire-format data: {e}") from None
            elif codec == CODEC_JSON and json_ok:
                if arg:
                    try:
                        json_format.Parse(arg, msg, ignore_unknown_fields=True)
                    except json_format.ParseError as e:
                        raise RPCError(f"invalid JSON argument: {e}") from None
                    except RecursionError:
                        raise RPCError(NESTED) from None
            else:
                raise RPCError(f"codec {codec:#x} is not supported by {method}")
            reply = await fn(msg)
            if reply is None:
                return b""
            if codec == CODEC_JSON:
                return json_format.MessageToJson(
                    reply, preserving_proto_field_name=True, indent=None).encode()
            return reply.SerializeToString()

        self.register(method, handler)
