"""A scripted goridge RPC peer for testing the PHP RPC client byte by byte.

It records every request frame exactly as received and answers from a handler, so a
test can assert both what PHP sent and how PHP reacts to replies a real server would
never produce (wrong sequence, missing options).
"""

from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass

from rr.goridge import frame as fr
from tests.helpers import ROOT


@dataclass
class Call:
    raw: bytes
    flags: int
    seq: int
    method: str
    body: bytes


# handler(call) -> raw reply bytes
Handler = Callable[[Call], bytes]


def reply(call: Call, body: bytes = b"", error: bool = False) -> bytes:
    """A well-formed reply to ``call``: same codec, seq and method length."""
    codec = call.flags & ~fr.ERROR
    m = call.method.encode()
    return fr.encode(m + body, codec | (fr.ERROR if error else 0), (call.seq, len(m)))


class RPCStub:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.calls: list[Call] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.address = f"tcp://127.0.0.1:{self.sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._conn, args=(conn,), daemon=True).start()

    def _conn(self, conn: socket.socket) -> None:
        parser = fr.FrameParser()
        raw_buf = b""
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                raw_buf += data
                for frame in parser.feed(data):
                    size = fr.HEADER_SIZE + 4 * len(frame.options) + len(frame.payload)
                    raw, raw_buf = raw_buf[:size], raw_buf[size:]
                    seq, mlen = frame.options
                    call = Call(raw, frame.flags, seq, frame.payload[:mlen].decode(),
                                frame.payload[mlen:])
                    self.calls.append(call)
                    conn.sendall(self.handler(call))

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RPCStub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_php(code: str, env: dict[str, str] | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
    """Runs a PHP snippet with the library loaded; stdout is the snippet's result."""
    import os
    script = f"<?php\ndeclare(strict_types=1);\nrequire '{ROOT}/php/autoload.php';\n{code}\n"
    res = subprocess.run(["php"], input=script, capture_output=True, text=True, timeout=60,
                         env={**os.environ, **(env or {})})
    if check and res.returncode != 0:
        raise AssertionError(f"php failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
    return res
