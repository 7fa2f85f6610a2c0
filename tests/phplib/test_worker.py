"""RR\\Worker over real pipes: byte-exact frames of worker-protocol.md §10."""

from __future__ import annotations

import contextlib
import json
import struct
import time

from rr.goridge import frame as fr
from tests.phplib.harness import PhpPipeWorker, split_payload


def test_pid_handshake_reply_is_control_frame_with_worker_pid() -> None:
    with PhpPipeWorker("phplib_worker.php") as w:
        raw_request = bytes.fromhex("13090c0000005f0c46730000") + b'{"pid":4242}'
        assert fr.encode(b'{"pid":4242}', fr.CONTROL | fr.CODEC_JSON) == raw_request
        w.write(raw_request)
        raw = w.read_raw_frame()
        pid = w.proc.pid
        payload = json.dumps({"pid": pid}, separators=(",", ":")).encode()
        assert raw == fr.encode(payload, fr.CONTROL)
        assert raw[:2] == b"\x13\x01" and raw[10:12] == b"\x00\x00"
        assert struct.unpack_from("<I", raw, 2)[0] == len(payload)


def test_pid_reply_matches_spec_hex_for_pid_31337() -> None:
    # F2 of worker-protocol.md §10, reproduced with PHP's own encoder
    out = _php_eval("echo bin2hex(RR\\Goridge\\Frame::encode(new RR\\Goridge\\Frame("
                    "'{\"pid\":31337}', [], RR\\Goridge\\Frame::CONTROL)));")
    assert out == "13010d000000fb208afb0000" + b'{"pid":31337}'.hex()


def test_handshake_may_repeat_and_request_echoes() -> None:
    with PhpPipeWorker("phplib_worker.php") as w:
        w.handshake()
        w.handshake()
        reply = w.request(b'{"a":1}', b"hello")
        assert reply.flags == 0 and reply.byte10 == 0
        assert split_payload(reply) == (b'{"a":1}', b"echo:hello")
        # the spec's F3 bytes are what the harness sent
        assert fr.encode_payload(b'{"a":1}', b"hello", fr.CODEC_JSON) == (
            bytes.fromhex("14080c00000057152353000007000000") + b'{"a":1}hello')


def test_stop_command_ends_loop_with_exit_0() -> None:
    with PhpPipeWorker("phplib_worker.php") as w:
        w.handshake()
        w.write(bytes.fromhex("13090d0000003a6bfacb0000") + b'{"stop":true}')
        assert w.proc.wait(15) == 0
        assert "worker loop ended" in w.stderr


def test_empty_data_frame_terminates() -> None:
    with PhpPipeWorker("phplib_worker.php") as w:
        w.handshake()
        w.send(b"")
        assert w.proc.wait(15) == 0


def test_error_frame_bytes() -> None:
    with PhpPipeWorker("phplib_worker.php") as w:
        w.handshake()
        w.send_request(b"", b"error:boom")
        raw = w.read_raw_frame()
        assert raw == bytes.fromhex("134004000000881e11e30000") + b"boom"
        # the worker stays usable after a soft error
        assert split_payload(w.request(b"", b"x"))[1] == b"echo:x"


def test_worker_stop_bytes() -> None:
    with PhpPipeWorker("phplib_worker.php") as w:
        w.handshake()
        w.send_request(b"{}", b"stop")
        raw = w.read_raw_frame()
        assert raw == bytes.fromhex("14000d000000f339efdb00000d000000") + b'{"stop":true}'


def test_echo_goes_to_stderr_not_stdout() -> None:
    with PhpPipeWorker("phplib_worker.php") as w:
        w.handshake()
        reply = w.request(b"", b"echo:stray output")
        assert split_payload(reply) == (b"", b"printed")
        deadline = time.monotonic() + 10
        while "stray output" not in w.stderr and time.monotonic() < deadline:
            time.sleep(0.02)
        assert "stray output" in w.stderr
        # nothing else was written to stdout: the next frame is the next reply
        assert split_payload(w.request(b"", b"y"))[1] == b"echo:y"


def test_split_payload_is_tolerated() -> None:
    with PhpPipeWorker("phplib_worker.php") as w:
        w.handshake()
        data = fr.encode_payload(b"ctx", b"a" * 5000)
        w.write(data[:20])
        time.sleep(0.2)
        w.write(data[20:])
        assert split_payload(w.read_frame()) == (b"ctx", b"echo:" + b"a" * 5000)


def test_split_header_kills_the_worker_like_the_sdk() -> None:
    with PhpPipeWorker("phplib_worker.php") as w:
        w.handshake()
        data = fr.encode_payload(b"", b"hi")
        w.write(data[:5])
        time.sleep(0.5)
        with contextlib.suppress(BrokenPipeError):  # already gone: it read a short header
            w.write(data[5:])
        assert w.proc.wait(15) != 0
        assert "Incorrect header size" in w.stderr


def test_large_payload_roundtrip_in_one_frame() -> None:
    with PhpPipeWorker("phplib_worker.php") as w:
        w.handshake()
        body = bytes(range(256)) * 4096  # 1 MiB, binary
        reply = w.request(b"h" * 100, body)
        assert split_payload(reply) == (b"h" * 100, b"echo:" + body)


def test_stdin_eof_is_an_error_exit() -> None:
    with PhpPipeWorker("phplib_worker.php") as w:
        w.handshake()
        w.close_stdin()
        assert w.proc.wait(15) != 0
        assert w.stdout_closed()


def test_unknown_control_command_throws() -> None:
    with PhpPipeWorker("phplib_worker.php") as w:
        w.send(b'{"foo":1}', fr.CONTROL | fr.CODEC_JSON)
        assert w.proc.wait(15) != 0
        assert "undefined control package" in w.stderr


def _php_eval(code: str) -> str:
    import subprocess

    from tests.helpers import ROOT
    res = subprocess.run(["php", "-r", f"require '{ROOT}/php/autoload.php'; {code}"],
                         capture_output=True, text=True, timeout=30, check=True)
    return res.stdout


def test_idle_worker_on_a_socketpair_outlives_default_socket_timeout() -> None:
    """A server that gives its workers socketpairs (uvloop's PIPE) must not see an idle
    RR\\Worker die after default_socket_timeout."""
    import socket
    import subprocess

    from tests.helpers import PHP_FIXTURES

    ours, theirs = socket.socketpair()
    proc = subprocess.Popen(["php", "-d", "default_socket_timeout=1",
                             str(PHP_FIXTURES / "phplib_worker.php")],
                            stdin=theirs, stdout=theirs, stderr=subprocess.PIPE)
    theirs.close()
    try:
        time.sleep(2.5)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        ours.settimeout(15)
        ours.sendall(fr.encode(b'{"pid":1}', fr.CONTROL | fr.CODEC_JSON)
                     + fr.encode_payload(b"", b"still"))
        parser, frames = fr.FrameParser(), []
        while len(frames) < 2:
            data = ours.recv(65536)
            assert data, "worker closed its relay"
            frames.extend(parser.feed(data))
        assert frames[0].flags & fr.CONTROL
        assert split_payload(frames[1]) == (b"", b"echo:still")
    finally:
        proc.kill()
        proc.wait(10)
        ours.close()
