"""tcp plugin pieces without PHP: config rules, context bytes, message boundaries."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from rr.config import Section
from rr.errors import ConfigError
from rr.goridge import frame as fr
from rr.tcp.config import MIB, TcpConfig
from rr.tcp.connection import TOO_LARGE, TOO_SMALL, Connection


def cfg(raw: dict[str, Any]) -> TcpConfig:
    return TcpConfig.from_section(Section(raw, "tcp"))


def test_config_defaults_and_errors() -> None:
    c = cfg({"servers": {"a": {"addr": ":7000"}, "b": {"addr": "unix:///tmp/x.sock",
                                                       "delimiter": "\n"}}})
    assert c.read_buf_size == MIB and c.max_message_size == 64 * MIB
    a, b = c.servers
    assert a.delimiter == b"\r\n" and a.listen_target() == ("tcp", None, 7000)
    assert b.delimiter == b"\n" and b.listen_target() == ("unix", "/tmp/x.sock", 0)
    assert cfg({"servers": {"a": {"addr": "tcp://[::1]:1"}}}).servers[0].listen_target() == (
        "tcp", "::1", 1)
    for raw, text in [({}, "no servers registered"),
                      ({"servers": {"a": {"addr": ""}}}, "empty address for the server: a"),
                      ({"servers": {"a b": {"addr": ":1"}}}, "must match"),
                      ({"servers": {"a": {"addr": "nowhere"}}}, "tcp.servers.a.addr"),
                      ({"servers": {"a": {"addr": ":1"}}, "read_buf_size": 101}, "1..100")]:
        with pytest.raises(ConfigError, match=text):
            cfg(raw)


class FakeTransport:
    def __init__(self) -> None:
        self.paused = False

    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.1", 53210) if name == "peername" else None

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False


class FakeListener:
    def __init__(self, read_buf: int = MIB, limit: int = 4 * MIB) -> None:
        self.cfg = cfg({"servers": {"echo": {"addr": ":1"}}}).servers[0]
        self.log = logging.getLogger("tcp")
        self.connections: dict[str, Connection] = {}
        self.read_buf_size = read_buf
        self.max_message_size = limit


def conn(listener: FakeListener | None = None) -> tuple[Connection, FakeTransport]:
    c = Connection(listener or FakeListener())  # type: ignore[arg-type]
    t = FakeTransport()
    c.transport = t  # type: ignore[assignment]
    c.remote_addr = "127.0.0.1:53210"
    return c, t


def test_context_bytes_match_the_reference_frame() -> None:
    """spec/tcp.md §8: 110-byte context, keys in order, flags 0, options [len(context)]."""
    import asyncio

    async def main() -> bytes:
        c = Connection(FakeListener())  # type: ignore[arg-type]
        c.uuid = "0b6f1d1e-7c1a-4b8e-9a57-2f1f3f6b9c01"
        c.run = lambda: asyncio.sleep(0)  # type: ignore[method-assign]
        c.connection_made(FakeTransport())  # type: ignore[arg-type]
        assert c.task is not None
        await c.task
        return c._prefix + b'DATA"}'

    ctx = asyncio.run(main())
    assert ctx == (b'{"remote_addr":"127.0.0.1:53210","server":"echo",'
                   b'"uuid":"0b6f1d1e-7c1a-4b8e-9a57-2f1f3f6b9c01","event":"DATA"}')
    assert len(ctx) == 110 and list(json.loads(ctx)) == ["remote_addr", "server", "uuid",
                                                         "event"]
    head = fr.encode_payload(ctx, b"ping\r\n")[:16]
    assert head.hex(" ") == "14 00 74 00 00 00 e5 d6 d8 cd 00 00 6e 00 00 00"


def test_delimiter_is_a_flush_marker_at_the_end_of_a_read() -> None:
    c, t = conn()
    c.data_received(b"a\r\nb")
    assert c._message is None and not t.paused  # a delimiter mid-read does not flush
    c.data_received(b"c\r\n")
    assert c._message == b"a\r\nbc\r\n" and t.paused and not c._buf


def test_single_byte_read_is_refused_and_big_unterminated_input_bounded() -> None:
    c, _ = conn()
    c.data_received(b"x")
    assert c._problem == TOO_SMALL
    c, _ = conn(FakeListener(read_buf=64, limit=100))
    c.data_received(b"y" * 60)
    c.data_received(b"y" * 60)
    assert c._problem == TOO_LARGE


def test_streamed_input_is_cut_at_the_last_delimiter_once_a_buffer_is_full() -> None:
    c, t = conn(FakeListener(read_buf=16))
    c.data_received(b"one\r\ntwo\r\nthr")
    assert c._message is None
    c.data_received(b"ee and more")
    assert c._message == b"one\r\ntwo\r\n" and t.paused
    assert bytes(c._buf) == b"three and more"
