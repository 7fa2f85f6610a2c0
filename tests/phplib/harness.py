"""Drive PHP scripts of the worker library over real pipes, frame by frame.

The harness plays the server's side of the worker protocol with rr.goridge.frame, so
each test sees exactly the bytes the PHP library puts on stdout.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import threading
from pathlib import Path

from rr.goridge import frame as fr
from tests.helpers import PHP_FIXTURES, ROOT

SERVER_PID = 4242


class FrameReadError(Exception):
    """The PHP side closed stdout (or never sent a whole frame) in time."""


class PhpPipeWorker:
    """`php <script>` with stdin/stdout as a goridge relay and stderr collected."""

    def __init__(self, script: str | Path, env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> None:
        path = Path(script)
        if not path.is_absolute():
            path = PHP_FIXTURES / path
        self.proc = subprocess.Popen(
            ["php", str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, cwd=cwd or ROOT,
            env={**os.environ, "RR_RELAY": "pipes", **(env or {})})
        self._raw = bytearray()
        self._stderr: list[bytes] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._pump_stderr, daemon=True).start()

    def _pump_stderr(self) -> None:
        assert self.proc.stderr is not None
        for chunk in iter(lambda: os.read(self.proc.stderr.fileno(), 65536), b""):  # type: ignore[union-attr]
            with self._lock:
                self._stderr.append(chunk)

    @property
    def stderr(self) -> str:
        with self._lock:
            return b"".join(self._stderr).decode("utf-8", "replace")

    # writing -----------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        os.write(self.proc.stdin.fileno(), data)

    def send(self, payload: bytes = b"", flags: int = 0, options: tuple[int, ...] = (),
             byte10: int = 0) -> None:
        self.write(fr.encode(payload, flags, options, byte10))

    def send_request(self, context: bytes, body: bytes, flags: int = fr.CODEC_JSON) -> None:
        self.write(fr.encode_payload(context, body, flags))

    def close_stdin(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()

    # reading -----------------------------------------------------------------------
    def _fill(self, n: int, timeout: float) -> None:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while len(self._raw) < n:
            ready, _, _ = select.select([fd], [], [], timeout)
            if not ready:
                raise FrameReadError(f"no frame within {timeout}s; stderr:\n{self.stderr}")
            chunk = os.read(fd, 65536)
            if not chunk:
                raise FrameReadError(f"stdout closed; stderr:\n{self.stderr}")
            self._raw += chunk

    def read_raw_frame(self, timeout: float = 15.0) -> bytes:
        """The next frame's exact bytes (header, options, payload)."""
        self._fill(fr.HEADER_SIZE, timeout)
        head = fr.decode_header(bytes(self._raw[:fr.HEADER_SIZE]))
        total = fr.HEADER_SIZE + head.options_size + head.length
        self._fill(total, timeout)
        raw = bytes(self._raw[:total])
        del self._raw[:total]
        return raw

    def read_frame(self, timeout: float = 15.0) -> fr.Frame:
        frame, _ = fr.decode(self.read_raw_frame(timeout))
        return frame

    def stdout_closed(self, timeout: float = 15.0) -> bool:
        """True when the worker closed stdout without sending anything more."""
        try:
            self._fill(len(self._raw) + 1, timeout)
        except FrameReadError as e:
            return "stdout closed" in str(e)
        return False

    # protocol steps -----------------------------------------------------------------
    def handshake(self) -> fr.Frame:
        self.send(json.dumps({"pid": SERVER_PID}, separators=(",", ":")).encode(),
                  fr.CONTROL | fr.CODEC_JSON)
        reply = self.read_frame()
        assert reply.flags == fr.CONTROL, reply
        return reply

    def request(self, context: bytes, body: bytes, flags: int = fr.CODEC_JSON) -> fr.Frame:
        self.send_request(context, body, flags)
        return self.read_frame()

    def stop(self, timeout: float = 15.0) -> int:
        self.send(b'{"stop":true}', fr.CONTROL | fr.CODEC_JSON)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def __enter__(self) -> PhpPipeWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


def split_payload(frame: fr.Frame) -> tuple[bytes, bytes]:
    """(context, body) of a worker payload frame."""
    assert len(frame.options) == 1, frame
    off = frame.options[0]
    return frame.payload[:off], frame.payload[off:]
