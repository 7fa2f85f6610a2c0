"""goridge RPC framing (spec/goridge.md §7) and a small blocking client for the CLI/tests."""

from __future__ import annotations

import json
import socket
from typing import Any

from rr.goridge.frame import (
    CODEC_GOB,
    CODEC_JSON,
    CODEC_MSGPACK,
    CODEC_PROTO,
    CODEC_RAW,
    ERROR,
    HEADER_SIZE,
    FrameError,
    decode_header,
    decode_options,
    encode,
)


def request_codec(flags: int) -> int:
    """The codec a request asked for; precedence proto > json > raw > msgpack > gob."""
    for codec in (CODEC_PROTO, CODEC_JSON, CODEC_RAW, CODEC_MSGPACK):
        if flags & codec:
            return codec
    return CODEC_GOB


def encode_request(seq: int, method: str, body: bytes, codec: int = CODEC_JSON) -> bytes:
    m = method.encode()
    return encode(m + body, codec, (seq, len(m)))


def encode_reply(seq: int, method: bytes, body: bytes, codec: int, error: bool = False) -> bytes:
    return encode(method + body, codec | (ERROR if error else 0), (seq, len(method)))


class RPCClientError(Exception):
    """The server answered with an error frame."""


def parse_address(address: str) -> tuple[int, Any]:
    """``tcp://host:port`` / ``host:port`` / ``unix:///path`` -> (family, sockaddr)."""
    if address.startswith("unix://"):
        return socket.AF_UNIX, address[len("unix://"):]
    if address.startswith("tcp://"):
        address = address[len("tcp://"):]
    host, _, port = address.rpartition(":")
    return socket.AF_INET, (host or "127.0.0.1", int(port))


class RPCClient:
    """A blocking goridge RPC client (one request at a time on one connection)."""

    def __init__(self, address: str = "tcp://127.0.0.1:6001", timeout: float = 30.0) -> None:
        family, addr = parse_address(address)
        self.address = address
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(addr)
        self.seq = 1

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RPCClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read_exactly(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("connection closed by the RPC server")
            buf += chunk
        return bytes(buf)

    def call_raw(self, method: str, body: bytes, codec: int = CODEC_JSON) -> bytes:
        seq = self.seq
        self.sock.sendall(encode_request(seq, method, body, codec))
        head = self._read_exactly(HEADER_SIZE)
        h = decode_header(head)
        opts = decode_options(self._read_exactly(h.options_size), h.hl - 3)
        payload = self._read_exactly(h.length)
        if len(opts) != 2:
            raise FrameError("Invalid RPC frame, options missing")
        if opts[0] != seq:
            raise FrameError("Invalid RPC frame, sequence mismatch")
        self.seq += 1
        data = payload[opts[1]:]
        if h.flags & ERROR:
            raise RPCClientError(data.decode("utf-8", "replace"))
        return data

    def call(self, method: str, arg: Any = True) -> Any:
        """JSON codec call."""
        reply = self.call_raw(method, json.dumps(arg).encode(), CODEC_JSON)
        return json.loads(reply) if reply else None

    def call_proto(self, method: str, request: Any, reply_cls: Any = None) -> Any:
        data = self.call_raw(method, request.SerializeToString() if request is not None else b"",
                             CODEC_PROTO)
        if reply_cls is None:
            return data
        msg = reply_cls()
        msg.ParseFromString(data)
        return msg
