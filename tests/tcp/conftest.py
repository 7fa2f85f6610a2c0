"""`rr serve` with a tcp section in front of tests/php/tcp_worker.php."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import RRProcess, free_port, php_worker, wait_for


@dataclass
class TcpRR:
    rr: RRProcess
    ports: dict[str, int]
    rpc: str
    close_log: Path

    def connect(self, server: str = "echo", timeout: float = 30.0) -> socket.socket:
        s = socket.create_connection(("127.0.0.1", self.ports[server]), timeout=timeout)
        s.settimeout(timeout)
        return s

    def closes(self) -> list[str]:
        if not self.close_log.exists():
            return []
        return [line.split()[1] for line in self.close_log.read_text().splitlines()]

    def wait_close(self, uuid: str, timeout: float = 20.0) -> None:
        wait_for(lambda: uuid in self.closes(), timeout, what=f"CLOSE event of {uuid}")


def start_tcp(tmp_path: Path, workers: int = 2, servers: tuple[str, ...] = ("echo",),
              extra: str = "", pool_extra: str = "", relay: str = "") -> TcpRR:
    ports = {name: free_port() for name in servers}
    rpc = f"127.0.0.1:{free_port()}"
    entries = "".join(f"    {name}:\n      addr: 127.0.0.1:{port}\n"
                      for name, port in ports.items())
    log = tmp_path / "closes.log"
    config = (f'version: "3"\nserver:\n  command: "{php_worker("tcp_worker.php")}"\n'
              + (f"  relay: {relay}\n" if relay else "")
              + f"rpc:\n  listen: tcp://{rpc}\n"
              f"tcp:\n{extra}  servers:\n{entries}"
              f"  pool:\n    num_workers: {workers}\n    allocate_timeout: 30s\n{pool_extra}")
    rr = RRProcess(config, tmp_path, env={"TCP_LOG": str(log)}).start()
    return TcpRR(rr, ports, rpc, log)


@pytest.fixture
def tcp_rr(tmp_path: Path) -> Iterator[TcpRR]:
    t = start_tcp(tmp_path, servers=("echo", "greet", "replying"))
    try:
        yield t
    finally:
        t.rr.stop()
        t.rr.kill()


def line(sock: socket.socket, data: bytes) -> bytes:
    """Send one message and read one reply line."""
    sock.sendall(data)
    return read_line(sock)


def read_line(sock: socket.socket) -> bytes:
    buf = b""
    while not buf.endswith(b"\r\n"):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {buf!r}")
        buf += chunk
    return buf


def read_to_eof(sock: socket.socket) -> bytes:
    buf = b""
    try:
        while chunk := sock.recv(65536):
            buf += chunk
    except ConnectionResetError:
        pass
    return buf


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
