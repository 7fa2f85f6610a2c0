"""RR\\Tcp\\TcpWorker on the wire (spec/tcp.md §3, §4, §8), byte for byte."""

from __future__ import annotations

import json

from rr.goridge import frame as fr
from tests.helpers import PHP_FIXTURES
from tests.phplib.harness import PhpPipeWorker, split_payload

SCRIPT = PHP_FIXTURES / "tcp_worker.php"
CTX = (b'{"remote_addr":"127.0.0.1:53210","server":"echo",'
       b'"uuid":"0b6f1d1e-7c1a-4b8e-9a57-2f1f3f6b9c01","event":"%s"}')


def test_reply_frames_and_the_stop_quirk() -> None:
    with PhpPipeWorker(SCRIPT) as w:
        w.handshake()
        w.send_request(CTX % b"DATA", b"pong\r\n", 0)
        raw = w.read_raw_frame()
        # the echo is spec §8's WRITE frame with body "pong\r\n", to the byte
        assert raw[:16].hex(" ") == "14 00 0b 00 00 00 2f 66 84 fe 00 00 05 00 00 00"
        assert raw[16:] == b"WRITEpong\r\n"
        reply = w.request(CTX % b"CONNECTED", b"", 0)
        assert split_payload(reply) == (b"CONTINUE", b"") and reply.flags == 0
        reply = w.request(CTX % b"DATA", b"close\r\n", 0)
        assert split_payload(reply) == (b"WRITECLOSE", b"bye\r\n")
        reply = w.request(CTX % b"DATA", b"ctx\r\n", 0)
        assert json.loads(split_payload(reply)[1]) == {
            "remote_addr": "127.0.0.1:53210", "server": "echo", "event": "DATA"}
        # a pid request between events is answered without user code (the fence)
        assert w.handshake().flags == fr.CONTROL
        # the stop command: TcpWorker sends one last CLOSE before exiting (SDK quirk)
        w.send(b'{"stop":true}', fr.CONTROL | fr.CODEC_JSON)
        assert split_payload(w.read_frame()) == (b"CLOSE", b"")
        assert w.proc.wait(15) == 0


def test_unknown_event_is_mapped_to_unknown() -> None:
    with PhpPipeWorker(SCRIPT) as w:
        w.handshake()
        w.send_request(CTX % b"SOMETHING", b"hey\r\n", 0)
        # tcp_worker.php treats any non-connect/close event as data: it is echoed
        assert split_payload(w.read_frame()) == (b"WRITE", b"hey\r\n")
