"""A bare WebSocket client on a plain socket, for what official clients never do:
stop reading (slow reader), send garbage, or flood connects."""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
from collections import deque
from typing import Any


class RawWS:
    def __init__(self, port: int, path: str = "/connection/websocket", rcvbuf: int = 0,
                 origin: str = "", protocol: str = "") -> None:
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(60)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        extra = f"Origin: {origin}\r\n" if origin else ""
        if protocol:
            extra += f"Sec-WebSocket-Protocol: {protocol}\r\n"
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                           f"{extra}\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                break
            head += chunk
        self.status = int(head.split(b" ", 2)[1]) if head else 0
        self.head = head.decode("latin-1")
        self._buf = b""
        self._later: deque[dict[str, Any]] = deque()  # JSON messages not asked for yet

    def send(self, text: str | bytes, opcode: int = 1) -> None:
        data = text.encode() if isinstance(text, str) else text
        mask = os.urandom(4)
        n = len(data)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.sock.sendall(head + mask + masked)

    def _read(self, n: int) -> bytes:
        while len(self._buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed without a close frame")
            self._buf += chunk
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def frame(self) -> tuple[int, bytes]:
        b0, b1 = self._read(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read(8))[0]
        return b0 & 0x0F, self._read(n)

    def close_code(self) -> tuple[int, str]:
        """Reads until the close frame; its code and reason."""
        while True:
            op, data = self.frame()
            if op == 8:
                code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else 1005
                return code, data[2:].decode("utf-8", "replace")

    def text(self) -> str:
        return self.data(1).decode()

    def data(self, opcode: int = 2) -> bytes:
        """The next frame of ``opcode`` (1 text, 2 binary)."""
        while True:
            op, data = self.frame()
            if op == opcode:
                return data
            if op == 8:
                raise ConnectionError(f"closed: {data!r}")

    # -- JSON protocol helpers: replies by id, pushes in order, pings answered ----------
    def _message(self) -> list[dict[str, Any]]:
        out = []
        for line in self.text().split("\n"):
            msg = json.loads(line)
            if msg == {}:
                self.send("{}")  # a server ping
            else:
                out.append(msg)
        return out

    def ask(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Sends a command; its reply. Pushes that come first are kept for ``push``."""
        self.send(json.dumps(cmd))
        reply: dict[str, Any] | None = None
        while reply is None:
            for msg in self._message():  # a frame may hold the reply and pushes after it
                if reply is None and msg.get("id") == cmd["id"]:
                    reply = msg
                else:
                    self._later.append(msg)
        return reply

    def push(self) -> dict[str, Any]:
        """The next push (the body of ``{"push": …}``)."""
        while True:
            while self._later:
                msg = self._later.popleft()
                if "push" in msg:
                    return msg["push"]  # type: ignore[no-any-return]
            self._later.extend(self._message())

    def close(self) -> None:
        self.sock.close()
