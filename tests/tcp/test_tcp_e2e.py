"""The tcp plugin end to end: real rr, real php-cli workers, real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import time
from pathlib import Path

import pytest

from tests.helpers import rpc, run_cli, wait_for
from tests.tcp.conftest import TcpRR, alive, line, read_line, read_to_eof, start_tcp

pytestmark = pytest.mark.php


def test_echo_and_context(tcp_rr: TcpRR) -> None:
    with tcp_rr.connect() as s:
        assert line(s, b"hello\r\n") == b"hello\r\n"
        ctx = json.loads(line(s, b"ctx\r\n"))
        host, port = s.getsockname()
        assert ctx == {"remote_addr": f"{host}:{port}", "server": "echo", "event": "DATA"}
        first = line(s, b"uuid\r\n").strip()
        assert line(s, b"uuid\r\n").strip() == first  # one id for the whole connection
        assert len(first) == 36 and first == first.lower()
        assert line(s, b"mode\r\n") == b"tcp\r\n"  # RR_MODE of the tcp pool


def test_two_messages_in_one_write_are_one_event(tcp_rr: TcpRR) -> None:
    with tcp_rr.connect() as s:
        assert line(s, b"a\r\nb\r\n") == b"a\r\nb\r\n"
        s.sendall(b"spl")
        time.sleep(0.3)
        assert line(s, b"it\r\n") == b"split\r\n"


def test_greeting_on_connected(tcp_rr: TcpRR) -> None:
    with tcp_rr.connect("greet") as s:
        host, port = s.getsockname()
        assert read_line(s) == f"hello {host}:{port}\r\n".encode()
        assert line(s, b"x\r\n") == b"x\r\n"


async def _client(port: int, n: int) -> tuple[bool, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"uuid\r\n")
        uid = (await reader.readuntil(b"\r\n")).strip().decode()
        for i in range(5):
            msg = f"client-{n}-msg-{i}-{'x' * (n * 7 % 300)}\r\n".encode()
            writer.write(msg)
            if await reader.readuntil(b"\r\n") != msg:
                return False, uid
        return True, uid
    finally:
        writer.close()


def test_hundred_concurrent_connections_each_get_their_own_data(tcp_rr: TcpRR) -> None:
    async def main() -> list[tuple[bool, str]]:
        return await asyncio.wait_for(asyncio.gather(
            *(_client(tcp_rr.ports["echo"], n) for n in range(100))), 120)

    results = asyncio.run(main())
    assert all(ok for ok, _ in results)
    uuids = {uid for _, uid in results}
    assert len(uuids) == 100
    wait_for(lambda: uuids <= set(tcp_rr.closes()), 60, what="100 CLOSE events")
    closes = tcp_rr.closes()
    assert all(closes.count(u) == 1 for u in uuids)  # exactly one CLOSE per connection


def test_writeclose_closes_and_sends_close_event(tcp_rr: TcpRR) -> None:
    with tcp_rr.connect() as s:
        uid = line(s, b"uuid\r\n").strip().decode()
        s.sendall(b"close\r\n")
        assert read_to_eof(s) == b"bye\r\n"
    tcp_rr.wait_close(uid)


def test_client_disconnect_delivers_one_close(tcp_rr: TcpRR) -> None:
    s = tcp_rr.connect()
    uid = line(s, b"uuid\r\n").strip().decode()
    s.close()
    tcp_rr.wait_close(uid)
    time.sleep(0.5)
    assert tcp_rr.closes().count(uid) == 1


def test_close_replies_are_discarded_not_delivered(tcp_rr: TcpRR) -> None:
    """Server "replying" answers CLOSE events: those replies must never become the reply
    to another connection's event (two workers, many short connections)."""
    for i in range(30):
        with tcp_rr.connect("replying") as s:
            assert line(s, f"n{i}\r\n".encode()) == f"n{i}\r\n".encode()
    with tcp_rr.connect("replying") as s:
        for i in range(30):
            assert line(s, f"m{i}\r\n".encode()) == f"m{i}\r\n".encode()


def test_unanswered_close_events_do_not_wedge_a_single_worker(tmp_path: Path) -> None:
    """The SDK README answers nothing to CLOSE: with one worker every later connection
    would hang if rr waited for that reply."""
    t = start_tcp(tmp_path, workers=1)
    try:
        pids = set()
        for i in range(20):
            with t.connect(timeout=15) as s:
                pids.add(int(line(s, b"pid\r\n")))
                assert line(s, f"q{i}\r\n".encode()) == f"q{i}\r\n".encode()
        assert len(pids) == 1  # the same worker served them all: never recycled
    finally:
        t.rr.stop()
        t.rr.kill()


def test_worker_crash_mid_event_closes_connection_and_replaces_worker(tcp_rr: TcpRR) -> None:
    with tcp_rr.connect() as s:
        uid = line(s, b"uuid\r\n").strip().decode()
        s.sendall(b"crash\r\n")
        assert read_to_eof(s) == b""
    tcp_rr.rr.wait_output("execute error")

    def two_workers() -> bool:
        return len(rpc(tcp_rr.rpc, "informer.Workers", "tcp")["workers"]) == 2

    wait_for(two_workers, 30, what="a replacement worker")
    pids = {w["pid"] for w in rpc(tcp_rr.rpc, "informer.Workers", "tcp")["workers"]}
    assert all(alive(p) for p in pids)
    with tcp_rr.connect() as s:
        assert line(s, b"after\r\n") == b"after\r\n"
    time.sleep(0.5)
    assert uid not in tcp_rr.closes()  # an exec failure sends no CLOSE (spec §5)


def test_soft_error_closes_connection_and_keeps_worker(tmp_path: Path) -> None:
    t = start_tcp(tmp_path, workers=1)
    try:
        with t.connect() as s:
            pid = int(line(s, b"pid\r\n"))
            s.sendall(b"error\r\n")
            assert read_to_eof(s) == b""
        with t.connect() as s:
            assert int(line(s, b"pid\r\n")) == pid
        assert "sync_worker_receive_frame: SoftJobError: boom" in t.rr.output
    finally:
        t.rr.stop()
        t.rr.kill()


def test_reply_then_error_frame_never_reaches_the_next_event(tmp_path: Path) -> None:
    """The README catch block sends WRITECLOSE and an error frame for one event."""
    t = start_tcp(tmp_path, workers=1)
    try:
        for i in range(15):
            with t.connect() as s:
                s.sendall(b"twice\r\n")
                assert read_to_eof(s) == b"Something went wrong\r\n"
            with t.connect() as s:
                assert line(s, f"ok{i}\r\n".encode()) == f"ok{i}\r\n".encode()
        t.rr.wait_output("stray frame after the reply discarded")
    finally:
        t.rr.stop()
        t.rr.kill()


def test_no_reply_and_unknown_command_close_the_connection(tcp_rr: TcpRR) -> None:
    with tcp_rr.connect() as s:
        s.sendall(b"silent\r\n")
        assert read_to_eof(s) == b""
    tcp_rr.rr.wait_output("the worker sent no reply to the DATA event")
    with tcp_rr.connect() as s:
        uid = line(s, b"uuid\r\n").strip().decode()
        s.sendall(b"bad\r\n")
        assert read_to_eof(s) == b""
    tcp_rr.wait_close(uid)
    with tcp_rr.connect() as s:
        assert line(s, b"still\r\n") == b"still\r\n"


def test_ten_mib_through_one_connection(tcp_rr: TcpRR) -> None:
    async def main() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", tcp_rr.ports["echo"],
                                                      limit=16 * 1024 * 1024)
        # one 10 MiB message, then 10 MiB as 160 lines of 64 KiB, written while reading
        big = os.urandom(5 * 1024 * 1024).hex().encode() + b"\r\n"
        writer.write(big)
        got = await reader.readexactly(len(big))
        assert got == big
        lines = [(b"%05d" % i) + b"y" * (65536 - 7) + b"\r\n" for i in range(160)]

        async def send() -> None:
            for chunk in lines:
                writer.write(chunk)
                await writer.drain()

        sender = asyncio.create_task(send())
        received = await reader.readexactly(sum(map(len, lines)))
        await sender
        assert received == b"".join(lines)
        writer.close()

    asyncio.run(asyncio.wait_for(main(), 120))


def test_half_closed_socket_gets_pending_data_answered(tcp_rr: TcpRR) -> None:
    with tcp_rr.connect() as s:
        uid = line(s, b"uuid\r\n").strip().decode()
        s.sendall(b"no delimiter")
        s.shutdown(socket.SHUT_WR)
        assert read_to_eof(s) == b"no delimiter"  # flushed as DATA, echoed, then closed
    tcp_rr.wait_close(uid)
    time.sleep(0.5)
    assert tcp_rr.closes().count(uid) == 1


def test_garbage_and_single_bytes(tcp_rr: TcpRR) -> None:
    with tcp_rr.connect() as s:
        junk = bytes(range(256)) * 4 + b"\r\n"
        assert line(s, junk) == junk  # binary data is just data
    with tcp_rr.connect() as s:
        uid = line(s, b"uuid\r\n").strip().decode()
        s.sendall(b"x")  # shorter than the delimiter: the reference disconnects
        assert read_to_eof(s) == b""
    tcp_rr.wait_close(uid)
    tcp_rr.rr.wait_output("too small payload was received from the connection")


def test_message_without_delimiter_is_bounded(tmp_path: Path) -> None:
    t = start_tcp(tmp_path, extra="  max_message_size: 1\n")
    try:
        with t.connect() as s:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                s.sendall(b"z" * (3 * 1024 * 1024))
            assert read_to_eof(s) == b""
        t.rr.wait_output("exceeds tcp.max_message_size")
    finally:
        t.rr.stop()
        t.rr.kill()


def test_client_that_never_reads_is_not_buffered(tcp_rr: TcpRR) -> None:
    """Back-pressure: with replies unread, rr stops reading; the client's writes block
    long before rr could have buffered what it sent."""
    s = tcp_rr.connect(timeout=5)
    msg = b"p" * 65534 + b"\r\n"
    sent = 0
    stalled = False
    while sent < 256 * 1024 * 1024:
        try:
            s.sendall(msg)  # whole messages: a split one could end in a 1-byte chunk
        except TimeoutError:
            stalled = True
            break
        sent += len(msg)
    s.close()
    assert stalled, f"rr took {sent} bytes without pushing back"
    assert sent < 64 * 1024 * 1024


def test_tcp_close_rpc(tcp_rr: TcpRR) -> None:
    with tcp_rr.connect() as s:
        uid = line(s, b"uuid\r\n").strip().decode()
        assert rpc(tcp_rr.rpc, "tcp.Close", uid) is True
        assert read_to_eof(s) == b""
    tcp_rr.wait_close(uid)
    assert rpc(tcp_rr.rpc, "tcp.Close", "00000000-0000-0000-0000-000000000000") is True


def test_reset_replaces_workers_and_keeps_serving(tcp_rr: TcpRR) -> None:
    with tcp_rr.connect() as s:
        before = {w["pid"] for w in rpc(tcp_rr.rpc, "informer.Workers", "tcp")["workers"]}
        res = run_cli("reset", "tcp", "-c", str(tcp_rr.rr.config_path), cwd=tcp_rr.rr.workdir)
        assert res.returncode == 0, res.stderr
        after = {w["pid"] for w in rpc(tcp_rr.rpc, "informer.Workers", "tcp")["workers"]}
        assert len(after) == 2 and not before & after
        assert line(s, b"same connection\r\n") == b"same connection\r\n"


def test_sigterm_closes_connections_and_leaves_no_workers(tmp_path: Path) -> None:
    t = start_tcp(tmp_path)
    socks = [t.connect() for _ in range(5)]
    pids = {int(line(s, b"pid\r\n")) for s in socks}
    uids = [line(s, b"uuid\r\n").strip().decode() for s in socks]
    t.rr.signal(signal.SIGTERM)
    assert t.rr.wait(60) == 0
    for s in socks:
        assert read_to_eof(s) == b""
        s.close()
    assert set(uids) <= set(t.closes())  # the CLOSE events ran before the pool stopped
    assert not [p for p in pids if alive(p)]
    t.rr.kill()


def test_sigterm_with_a_hung_worker_ends_within_the_grace_period(tmp_path: Path) -> None:
    t = start_tcp(tmp_path)
    stuck = t.connect()
    pid = int(line(stuck, b"pid\r\n"))
    stuck.sendall(b"hang\r\n")
    time.sleep(0.5)
    with t.connect() as s:  # the other worker still serves
        other = int(line(s, b"pid\r\n"))
    t.rr.signal(signal.SIGTERM)
    # exit 0: the stop finished within endure.grace_period (else "graceful stop timed out")
    assert t.rr.wait(60) == 0, t.rr.output
    assert not alive(pid) and not alive(other)
    stuck.close()
    t.rr.kill()


def test_socket_relay_workers(tmp_path: Path) -> None:
    """Workers on a tcp:// relay: the fence travels over sockets too."""
    from tests.helpers import free_port

    t = start_tcp(tmp_path, workers=1, servers=("echo", "replying"),
                  relay=f"tcp://127.0.0.1:{free_port()}")
    try:
        for server in ("echo", "replying", "echo"):
            for i in range(5):
                with t.connect(server) as s:
                    assert line(s, f"r{i}\r\n".encode()) == f"r{i}\r\n".encode()
                    s.sendall(b"twice\r\n")
                    assert read_to_eof(s) == b"Something went wrong\r\n"
    finally:
        t.rr.stop()
        t.rr.kill()


def test_config_errors(tmp_path: Path) -> None:
    from tests.helpers import RRProcess

    for tcp_section, text in [("tcp:\n  servers: {}\n", "no servers registered"),
                              ("tcp:\n  servers:\n    a:\n      addr: ''\n",
                               "empty address for the server: a")]:
        rr = RRProcess(f'version: "3"\nserver:\n  command: "php x.php"\n{tcp_section}',
                       tmp_path).start(wait=False)
        assert rr.wait(30) == 1
        assert text in rr.output


def test_example_script(tmp_path: Path) -> None:
    from tests.helpers import PHP_DIR, RRProcess, free_port

    port = free_port()
    rr = RRProcess(f'version: "3"\ntcp:\n  servers:\n    lines:\n      addr: 127.0.0.1:{port}\n'
                   f'  pool:\n    num_workers: 1\n    command: "php {PHP_DIR}/examples/tcp.php"\n',
                   tmp_path).start()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.settimeout(30)
            assert read_line(s).startswith(b"hello 127.0.0.1:")
            assert len(line(s, b"whoami\r\n").strip()) == 36
            assert line(s, b"echo me\r\n") == b"echo me\r\n"
            s.sendall(b"quit\r\n")
            assert read_to_eof(s) == b"bye\r\n"
        rr.wait_output("closed")
    finally:
        rr.stop()
        rr.kill()


def test_unix_socket_and_ipv6_listeners(tmp_path: Path) -> None:
    from tests.helpers import RRProcess, free_port, php_worker

    sock_path = tmp_path / "tcp.sock"
    port = free_port()
    rr = RRProcess(f'version: "3"\nserver:\n  command: "{php_worker("tcp_worker.php")}"\n'
                   f"tcp:\n  servers:\n    local:\n      addr: unix://{sock_path}\n"
                   f"    six:\n      addr: tcp://[::1]:{port}\n"
                   f"  pool:\n    num_workers: 1\n", tmp_path).start()
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(30)
            s.connect(str(sock_path))
            assert line(s, b"unix\r\n") == b"unix\r\n"
        with socket.create_connection(("::1", port), timeout=30) as s:
            s.settimeout(30)
            ctx = json.loads(line(s, b"ctx\r\n"))
            assert ctx["remote_addr"] == f"[::1]:{s.getsockname()[1]}"
            assert ctx["server"] == "six"
    finally:
        rr.stop()
        rr.kill()
