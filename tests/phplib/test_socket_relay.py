"""Workers on socket relays (RR_RELAY=tcp://… / unix://…): the worker dials the server,
answers the pid handshake with its own pid, and polls for STOP instead of pinging."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rr.goridge import frame as fr
from tests.helpers import PHP_FIXTURES, ROOT


class SocketPeer:
    """The server side of one worker connection."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.conn.settimeout(30)
        self.parser = fr.FrameParser()
        self.pending: list[fr.Frame] = []

    def send(self, data: bytes) -> None:
        self.conn.sendall(data)

    def read(self) -> fr.Frame:
        while not self.pending:
            data = self.conn.recv(65536)
            assert data, "worker closed the connection"
            self.pending.extend(self.parser.feed(data))
        return self.pending.pop(0)


@contextmanager
def worker_on(listener: socket.socket, address: str, script: str) -> Iterator[
        tuple[subprocess.Popen[bytes], SocketPeer]]:
    proc = subprocess.Popen(["php", str(PHP_FIXTURES / script)], cwd=ROOT,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE,
                            env={**os.environ, "RR_RELAY": address, "RR_MODE": "http"})
    try:
        listener.settimeout(30)
        conn, _ = listener.accept()
        with conn:
            yield proc, SocketPeer(conn)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def _handshake(proc: subprocess.Popen[bytes], peer: SocketPeer) -> None:
    peer.send(fr.encode(b'{"pid":4242}', fr.CONTROL | fr.CODEC_JSON))
    reply = peer.read()
    assert reply.flags == fr.CONTROL and reply.options == ()
    assert json.loads(reply.payload) == {"pid": proc.pid}


def test_tcp_worker_handshake_echo_and_stop() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        address = f"tcp://127.0.0.1:{listener.getsockname()[1]}"
        with worker_on(listener, address, "phplib_worker.php") as (proc, peer):
            _handshake(proc, peer)
            peer.send(fr.encode_payload(b"ctx", b"body", fr.CODEC_JSON))
            reply = peer.read()
            assert reply.options == (3,) and reply.payload == b"ctxecho:body"
            peer.send(fr.encode(b'{"stop":true}', fr.CONTROL | fr.CODEC_JSON))
            assert proc.wait(15) == 0


def test_unix_worker_streams_without_ping_and_notices_stop(tmp_path: Path) -> None:
    path = tmp_path / "w.sock"
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(path))
        listener.listen(1)
        with worker_on(listener, f"unix://{path}", "phplib_http.php") as (proc, peer):
            _handshake(proc, peer)
            ctx = {"remoteAddr": "127.0.0.1", "protocol": "HTTP/1.1", "method": "GET",
                   "uri": "http://h/stream?n=100000", "headers": {}, "cookies": {},
                   "rawQuery": "n=100000", "parsed": False, "uploads": None,
                   "attributes": None}
            peer.send(fr.encode_payload(json.dumps(ctx).encode(), b"", fr.CODEC_JSON))
            first = peer.read()
            assert first.byte10 == fr.STREAM
            peer.send(fr.encode(byte10=fr.STOP))
            frames = [first]
            while frames[-1].byte10 & fr.STREAM:
                frames.append(peer.read())
            assert all(not f.byte10 & fr.PING for f in frames)
            assert len(frames) < 100001
            last = frames[-1]
            assert (last.options, last.payload, last.flags) == ((0,), b"", 0)
            peer.send(fr.encode(b'{"stop":true}', fr.CONTROL | fr.CODEC_JSON))
            assert proc.wait(15) == 0
            assert b"stream stopped" in proc.communicate(timeout=10)[1]
