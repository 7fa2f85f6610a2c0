"""``app.*`` RPC methods (spec/app-logger.md): PHP log lines in channel ``app``.

The plain methods take a JSON string and answer ``false`` (RoadRunner's handlers never
set their boolean reply, and the PHP client ignores it); the ``*WithContext`` methods
take a protobuf ``LogEntry`` whose attributes become log fields, and answer an empty
``Response``. ``Log``/``LogWithContext`` bypass the log formatting and write straight to
stderr, as RoadRunner does.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from rr.applogger.proto.applogger_pb2 import LogEntry, Response
from rr.rpc.registry import Registry, RPCError

LEVELS = (("Error", logging.ERROR), ("Warning", logging.WARNING), ("Info", logging.INFO),
          ("Debug", logging.DEBUG))


def _text(method: str, value: Any) -> str:
    if isinstance(value, bytes):  # raw codec
        return value.decode("utf-8", "replace")
    if not isinstance(value, str):
        raise RPCError(f"{method}: the message must be a JSON string, "
                       f"got {type(value).__name__}")
    return value


def _raw_line(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


class AppLogger:
    def __init__(self, log: logging.Logger) -> None:
        self.log = log

    def register(self, registry: Registry) -> None:
        for name, level in LEVELS:
            registry.json(f"app.{name}", self._plain(f"app.{name}", level))
            registry.proto(f"app.{name}WithContext", LogEntry, self._structured(level))
        registry.json("app.Log", self._raw)
        registry.proto("app.LogWithContext", LogEntry, self._raw_entry)

    def _plain(self, method: str, level: int) -> Callable[[Any], Awaitable[bool]]:
        async def handler(value: Any) -> bool:
            self.log.log(level, _text(method, value))
            return False

        return handler

    def _structured(self, level: int) -> Callable[[LogEntry], Awaitable[Response]]:
        async def handler(entry: LogEntry) -> Response:
            fields = {a.key: a.value for a in entry.log_attrs}
            self.log.log(level, entry.message, extra={"fields": fields} if fields else None)
            return Response()

        return handler

    @staticmethod
    def _write(line: str) -> None:
        sys.stderr.write(line)
        sys.stderr.flush()

    async def _raw(self, value: Any) -> bool:
        self._write(_raw_line(_text("app.Log", value)))
        return False

    async def _raw_entry(self, entry: LogEntry) -> Response:
        attrs = ",".join(f"{a.key}:{a.value}" for a in entry.log_attrs)
        self._write(f"{entry.message} {attrs}\n" if attrs else _raw_line(entry.message))
        return Response()
