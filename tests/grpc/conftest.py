from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.helpers import PHP_FIXTURES, RRProcess, free_port, php_worker

PROTO_DIR = PHP_FIXTURES / "grpc"
SERVICE = "rc.test.v1.Test"


def msg(text: str = "", n: int = 0) -> bytes:
    """rc.test.v1.Msg {string text = 1; int64 n = 2} by hand (the proxy never decodes)."""
    out = b""
    if text:
        raw = text.encode()
        out += b"\x0a" + _varint(len(raw)) + raw
    if n:
        out += b"\x10" + _varint(n)
    return out


def parse_msg(data: bytes) -> tuple[str, int]:
    text, n, i = "", 0, 0
    while i < len(data):
        tag = data[i]
        i += 1
        if tag == 0x0A:
            length, i = _read_varint(data, i)
            text = data[i:i + length].decode()
            i += length
        elif tag == 0x10:
            n, i = _read_varint(data, i)
        else:
            raise ValueError(f"unexpected tag {tag}")
    return text, n


def _varint(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _read_varint(data: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


@dataclass
class GrpcServer:
    rr: RRProcess
    target: str
    workdir: Path
    rpc_address: str
    extra: dict[str, Any] = field(default_factory=dict)
    _channels: list[grpc.Channel] = field(default_factory=list)

    def channel(self, **kw: Any) -> grpc.Channel:
        ch = grpc.insecure_channel(self.target, **kw)
        self._channels.append(ch)
        return ch

    def call(self, method: str, body: bytes = b"", channel: grpc.Channel | None = None,
             **kw: Any) -> tuple[bytes, grpc.Call]:
        ch = channel or (self._channels[0] if self._channels else self.channel())
        return ch.unary_unary(f"/{SERVICE}/{method}").with_call(body, **kw)  # type: ignore[no-any-return]

    def close(self) -> None:
        for ch in self._channels:
            ch.close()


ServeFn = Callable[..., GrpcServer]


def config(port_or_listen: str, *, rpc_port: int, pool: str = "num_workers: 2",
           grpc_extra: str = "", top: str = "", worker: str = "grpc_worker.php",
           proto: str = '["test.proto"]') -> str:
    return textwrap.dedent("""\
        version: "3"
        rpc:
          listen: tcp://127.0.0.1:{rpc_port}
        server:
          command: "{cmd}"
        logs:
          level: {level}
        grpc:
          listen: {listen}
          proto: {proto}
        {grpc_extra}
          pool:
        {pool}
        {top}
        """).format(rpc_port=rpc_port, cmd=php_worker(worker), listen=port_or_listen,
                    proto=proto, grpc_extra=textwrap.indent(textwrap.dedent(grpc_extra), "  "),
                    pool=textwrap.indent(textwrap.dedent(pool), "    "),
                    top=textwrap.dedent(top), level="info")


def copy_protos(workdir: Path) -> None:
    for p in PROTO_DIR.glob("*.proto"):
        shutil.copy(p, workdir / p.name)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServeFn]:
    started: list[GrpcServer] = []

    def start(pool: str = "num_workers: 2", grpc_extra: str = "", top: str = "",
              listen: str | None = None, wait: bool = True, **kw: Any) -> GrpcServer:
        copy_protos(tmp_path)
        port, rpc_port = free_port(), free_port()
        listen = listen or f"tcp://127.0.0.1:{port}"
        rr = RRProcess(config(listen, rpc_port=rpc_port, pool=pool, grpc_extra=grpc_extra,
                              top=top, **kw), tmp_path)
        target = (listen.replace("unix://", "unix:") if listen.startswith("unix://")
                  else f"127.0.0.1:{port}")
        srv = GrpcServer(rr, target, tmp_path, f"tcp://127.0.0.1:{rpc_port}")
        started.append(srv)
        if wait:
            rr.start()
        return srv

    yield start
    for s in started:
        s.close()
        try:
            s.rr.stop()
        finally:
            s.rr.kill()
