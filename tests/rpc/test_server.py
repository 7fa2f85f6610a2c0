"""The goridge RPC listener over real sockets (goridge.md §7, rpc-and-cli.md §1-2)."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import tempfile
import uuid
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rr.app import App
from rr.config import Config
from rr.errors import ConfigError, RRError
from rr.goridge.frame import (
    CODEC_GOB,
    CODEC_JSON,
    CODEC_PROTO,
    CODEC_RAW,
    ERROR,
    HEADER_SIZE,
    decode_header,
    decode_options,
    encode,
)
from rr.goridge.rpc import encode_request
from rr.rpc import plugin as rpc_plugin
from rr.rpc.registry import RPCError
from rr.rpc.server import Listen, RPCServer, parse_listen
from tests.helpers import free_port


def make_app(rpc_section: dict[str, object] | None, **extra: object) -> App:
    data: dict[str, object] = {"version": "3", **extra}
    if rpc_section is not None:
        data["rpc"] = rpc_section
    return App(Config(data))


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, tuple[int, ...], bytes]:
    head = await reader.readexactly(HEADER_SIZE)
    h = decode_header(head)
    opts = decode_options(await reader.readexactly(h.options_size), h.hl - 3)
    return h.flags, opts, await reader.readexactly(h.length)


async def call(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seq: int,
               method: str, body: bytes, codec: int = CODEC_JSON) -> tuple[int, bytes]:
    writer.write(encode_request(seq, method, body, codec))
    flags, opts, payload = await read_frame(reader)
    assert opts == (seq, len(method.encode()))
    assert payload[:opts[1]] == method.encode()
    return flags, payload[opts[1]:]


@pytest.fixture()
async def served() -> AsyncIterator[tuple[App, str]]:
    port = free_port()
    app = make_app({"listen": f"tcp://127.0.0.1:{port}"})
    plugin = rpc_plugin.create(app)
    assert plugin is not None

    async def echo(arg: object) -> object:
        return arg

    async def slow(arg: object) -> object:
        await asyncio.sleep(float(arg))  # type: ignore[arg-type]
        return arg

    async def fails(_arg: object) -> object:
        raise RPCError("some error")

    async def crashes(_arg: object) -> object:
        raise RuntimeError("unexpected")

    app.rpc.json("test.Echo", echo)
    app.rpc.json("test.Slow", slow)
    app.rpc.json("test.Fail", fails)
    app.rpc.json("test.Crash", crashes)
    await plugin.start()
    try:
        yield app, plugin.address
    finally:
        await plugin.stop()


async def connect(address: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = address[len("tcp://"):].rsplit(":", 1)
    return await asyncio.open_connection(host, int(port))


# ---- config ---------------------------------------------------------------------------
def test_disabled_without_rpc_section() -> None:
    assert rpc_plugin.create(make_app(None)) is None


def test_default_listen() -> None:
    plugin = rpc_plugin.create(make_app({}))
    assert plugin is not None
    assert str(plugin.server.listen) == "tcp://127.0.0.1:6001"


@pytest.mark.parametrize("dsn", ["127.0.0.1:6001", "http://x:1", "tcp://nohost", "unix://",
                                 "tcp://h:99999"])
def test_invalid_listen(dsn: str) -> None:
    with pytest.raises(ConfigError, match=r"rpc.listen: invalid socket DSN \(tcp://:6001, "
                                          r"unix://file.sock\)"):
        rpc_plugin.create(make_app({"listen": dsn}))


def test_parse_listen() -> None:
    assert parse_listen("tcp://:6001") == Listen("tcp", "", 6001)
    assert parse_listen("unix:///run/rr.sock") == Listen("unix", path="/run/rr.sock")


# ---- protocol -------------------------------------------------------------------------
async def test_spec_example_bytes(served: tuple[App, str]) -> None:
    app, address = served
    reader, writer = await connect(address)
    request = bytes.fromhex("150811000000b0490c3a0000010000000d000000") + b"informer.Listtrue"
    writer.write(request)
    flags, opts, payload = await read_frame(reader)
    assert flags == CODEC_JSON and opts == (1, 13)
    assert payload == b"informer.List[]"
    writer.close()


async def test_version_and_config(served: tuple[App, str]) -> None:
    app, address = served
    reader, writer = await connect(address)
    assert await call(reader, writer, 7, "rpc.Version", b"true") == (CODEC_JSON, b'"2025.1.15"')
    flags, body = await call(reader, writer, 8, "rpc.Config", b"true")
    assert flags == CODEC_JSON
    config = json.loads(base64.b64decode(json.loads(body)))
    assert config["rpc"]["listen"] == address
    flags, body = await call(reader, writer, 9, "rpc.Config", b"", CODEC_RAW)
    assert flags == CODEC_RAW and json.loads(body)["version"] == "3"
    writer.close()


@pytest.mark.parametrize("method,message", [
    ("nosuch.Method", "rpc: can't find service nosuch.Method"),
    ("rpc.Nope", "rpc: can't find method rpc.Nope"),
    ("nodot", "rpc: service/method request ill-formed: nodot"),
    ("", "rpc: service/method request ill-formed: "),
    ("test.Fail", "some error"),
    ("test.Crash", "unexpected"),
])
async def test_errors_keep_connection(served: tuple[App, str], method: str,
                                      message: str) -> None:
    _app, address = served
    reader, writer = await connect(address)
    flags, body = await call(reader, writer, 3, method, b"true")
    assert flags == CODEC_JSON | ERROR
    assert body.decode() == message
    # the connection stays usable after an error reply
    assert await call(reader, writer, 4, "test.Echo", b'"ok"') == (CODEC_JSON, b'"ok"')
    writer.close()


async def test_codec_precedence_and_gob(served: tuple[App, str]) -> None:
    _app, address = served
    reader, writer = await connect(address)
    flags, _ = await call(reader, writer, 1, "test.Echo", b"1", CODEC_JSON | CODEC_RAW)
    assert flags == CODEC_JSON
    flags, body = await call(reader, writer, 2, "test.Echo", b"raw bytes", CODEC_RAW)
    assert (flags, body) == (CODEC_RAW, b"raw bytes")
    flags, body = await call(reader, writer, 3, "test.Echo", b"x", 0)
    assert flags == CODEC_GOB | ERROR and b"gob" in body
    flags, body = await call(reader, writer, 4, "rpc.Config", b"", CODEC_PROTO)
    assert flags == CODEC_PROTO | ERROR
    flags, body = await call(reader, writer, 5, "test.Echo", b"{not json")
    assert flags == CODEC_JSON | ERROR and b"invalid JSON" in body
    writer.close()


async def test_many_outstanding_requests_answered_by_seq(served: tuple[App, str]) -> None:
    _app, address = served
    reader, writer = await connect(address)
    # a slow request first: the quick ones behind it are not held up by it
    writer.write(encode_request(1000, "test.Slow", b"0.5"))
    for seq in range(1, 101):
        writer.write(encode_request(seq, "test.Echo", str(seq).encode()))
    replies: dict[int, bytes] = {}
    order: list[int] = []
    for _ in range(101):
        flags, opts, payload = await read_frame(reader)
        assert flags == CODEC_JSON
        replies[opts[0]] = payload[opts[1]:]
        order.append(opts[0])
    assert replies == {**{s: str(s).encode() for s in range(1, 101)}, 1000: b"0.5"}
    assert order[-1] == 1000
    writer.close()


async def test_concurrent_connections(served: tuple[App, str]) -> None:
    _app, address = served

    async def client(n: int) -> None:
        reader, writer = await connect(address)
        for i in range(20):
            body = json.dumps(f"{n}-{i}").encode()
            assert await call(reader, writer, i + 1, "test.Echo", body) == (CODEC_JSON, body)
        writer.close()

    await asyncio.gather(*(client(n) for n in range(10)))


@pytest.mark.parametrize("frame", [
    encode(b"informer.Listtrue", CODEC_JSON, (1,)),  # 1 option
    encode(b"informer.Listtrue", CODEC_JSON, (1, 13, 0)),  # 3 options
    encode(b"informer.Listtrue", CODEC_JSON, ()),  # none
    encode(b"informer.Listtrue", CODEC_JSON, (1, 99)),  # name longer than the payload
    bytearray(encode(b"informer.Listtrue", CODEC_JSON, (1, 13))),  # CRC broken below
])
async def test_bad_frames_drop_connection(served: tuple[App, str], frame: bytes) -> None:
    _app, address = served
    if isinstance(frame, bytearray):
        frame[6] ^= 0xFF
        frame = bytes(frame)
    reader, writer = await connect(address)
    writer.write(frame)
    assert await asyncio.wait_for(reader.read(), 10) == b""  # closed without a reply
    writer.close()
    # the server itself is fine
    reader, writer = await connect(address)
    assert await call(reader, writer, 1, "test.Echo", b"1") == (CODEC_JSON, b"1")
    writer.close()


async def test_truncated_frame_then_disconnect(served: tuple[App, str]) -> None:
    _app, address = served
    reader, writer = await connect(address)
    writer.write(encode_request(1, "test.Echo", b'"abcdef"')[:-3])
    await writer.drain()
    writer.close()
    reader, writer = await connect(address)
    assert await call(reader, writer, 2, "test.Echo", b"2") == (CODEC_JSON, b"2")
    writer.close()


async def test_client_disconnects_with_request_in_flight(served: tuple[App, str]) -> None:
    _app, address = served
    reader, writer = await connect(address)
    writer.write(encode_request(1, "test.Slow", b"0.2"))
    await writer.drain()
    writer.close()
    await asyncio.sleep(0.4)
    reader, writer = await connect(address)
    assert await call(reader, writer, 2, "test.Echo", b"2") == (CODEC_JSON, b"2")
    writer.close()


async def test_half_close_still_answered(served: tuple[App, str]) -> None:
    _app, address = served
    reader, writer = await connect(address)
    writer.write(encode_request(5, "test.Slow", b"0.1"))
    writer.write_eof()
    flags, opts, payload = await read_frame(reader)
    assert opts[0] == 5 and payload.endswith(b"0.1")
    assert await reader.read() == b""
    writer.close()


async def test_unix_socket_replaces_stale_file() -> None:
    path = Path(tempfile.gettempdir()) / f"rr-rpc-{uuid.uuid4().hex[:10]}.sock"
    path.write_text("stale")
    app = make_app({"listen": f"unix://{path}"})
    plugin = rpc_plugin.create(app)
    assert plugin is not None
    await plugin.start()
    try:
        reader, writer = await asyncio.open_unix_connection(str(path))
        assert await call(reader, writer, 1, "rpc.Version", b"true") == (CODEC_JSON,
                                                                        b'"2025.1.15"')
        writer.close()
    finally:
        await plugin.stop()
    assert not path.exists()


async def test_bind_failure_is_reported() -> None:
    port = free_port()
    blocker = await asyncio.start_server(lambda r, w: None, "127.0.0.1", port)
    try:
        server = RPCServer(App(Config({"version": "3"})).rpc, Listen("tcp", "127.0.0.1", port))
        with pytest.raises(RRError, match=rf"listen tcp 127.0.0.1:{port}: bind: "
                                          r"address already in use"):
            await server.start()
    finally:
        blocker.close()


# ---- fuzz: malformed input never kills the server ----------------------------------------
def _frame_with(hl: int, flags: int, length: int, crc_ok: bool, tail: bytes) -> bytes:
    head = struct.pack("<BBI", 0x10 | hl, flags, length)
    crc = zlib.crc32(head) if crc_ok else zlib.crc32(head) ^ 1
    return head + struct.pack("<IBB", crc, 0, 0) + tail


_garbage = st.one_of(
    st.binary(max_size=64),
    st.builds(_frame_with, st.integers(0, 15), st.integers(0, 255), st.integers(0, 80),
              st.booleans(), st.binary(max_size=100)),
    st.builds(lambda seq, name, body, flags: encode(name + body, flags, (seq, len(name))),
              st.integers(0, 2**32 - 1), st.binary(max_size=30), st.binary(max_size=30),
              st.integers(0, 255)),
)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.lists(_garbage, min_size=1, max_size=4))
def test_fuzz_server_survives(data: list[bytes]) -> None:
    async def scenario() -> None:
        port = free_port()
        server = RPCServer(_fuzz_app().rpc, Listen("tcp", "127.0.0.1", port))
        await server.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            for chunk in data:
                writer.write(chunk)
            writer.write_eof()
            # whatever came back must be well-formed reply frames
            rest = await asyncio.wait_for(reader.read(), 10)
            while rest:
                h = decode_header(rest[:HEADER_SIZE])
                assert h.hl == 5
                rest = rest[HEADER_SIZE + h.options_size + h.length:]
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(encode_request(1, "rpc.Version", b"true"))
            flags, opts, payload = await asyncio.wait_for(read_frame(reader), 10)
            assert payload == b'rpc.Version"2025.1.15"'
            writer.close()
        finally:
            await server.stop()

    asyncio.run(scenario())


def _fuzz_app() -> App:
    app = make_app({})
    plugin = rpc_plugin.create(app)
    assert plugin is not None
    return app



async def test_stop_closes_idle_and_busy_connections() -> None:
    port = free_port()
    app = make_app({"listen": f"tcp://127.0.0.1:{port}"})
    plugin = rpc_plugin.create(app)
    assert plugin is not None

    async def forever(_arg: object) -> object:
        await asyncio.sleep(3600)
        return None

    app.rpc.json("test.Forever", forever)
    await plugin.start()
    idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", port)
    busy_reader, busy_writer = await asyncio.open_connection("127.0.0.1", port)
    busy_writer.write(encode_request(1, "test.Forever", b"true"))
    await busy_writer.drain()
    await asyncio.sleep(0.1)
    await asyncio.wait_for(plugin.stop(), 10)
    assert await asyncio.wait_for(idle_reader.read(), 10) == b""
    assert await asyncio.wait_for(busy_reader.read(), 10) == b""
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)
    idle_writer.close()
    busy_writer.close()
