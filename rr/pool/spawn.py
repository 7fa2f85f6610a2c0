"""Starting worker processes and wiring their relay (pipes, tcp or unix socket)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
from typing import Any

from rr.goridge.frame import CONTROL, FrameError, FrameParser
from rr.goridge.rpc import parse_address
from rr.pool.errors import WorkerError
from rr.pool.worker import Channel, Worker


class _PipeProtocol(asyncio.SubprocessProtocol):
    def __init__(self) -> None:
        self.worker: Worker | None = None
        self.early: list[tuple[int, bytes]] = []
        self.exit_code: int | None = None
        self.exited = False

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        w = self.worker
        if w is None:
            self.early.append((fd, data))
        elif fd == 1:
            w.on_data(data)
        else:
            w.on_stderr(data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == 1 and self.worker is not None:
            self.worker.on_eof()

    def process_exited(self) -> None:
        self.exited = True
        if self.worker is not None:
            self.worker.on_exit(self._code())

    def _code(self) -> int | None:
        t = getattr(self, "transport", None)
        return t.get_returncode() if t is not None else None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport


PARK_SECONDS = 30.0  # how long an early relay connection waits for its spawner
PARK_MAX = 64  # early connections held at once; a flood of strangers cannot grow it


class SocketRelay:
    """The listener workers connect to when ``server.relay`` is tcp:// or unix://.

    The server sends the pid request as soon as a connection arrives; the pid in the
    reply tells which spawned process the connection belongs to.
    """

    _instances: dict[str, SocketRelay] = {}

    def __init__(self, address: str, logger: logging.Logger) -> None:
        self.address = address
        self.log = logger
        self.server: asyncio.AbstractServer | None = None
        self.waiting: dict[int, asyncio.Future[tuple[Any, _SocketProtocol]]] = {}
        self.path = ""  # the unix socket file, removed when the last user is gone
        self.users = 0
        self.parked: dict[int, tuple[Any, _SocketProtocol, asyncio.TimerHandle]] = {}
        self.listening: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    @classmethod
    async def get(cls, address: str, logger: logging.Logger) -> SocketRelay:
        relay = cls._instances.get(address)
        if relay is None:
            relay = cls(address, logger)
            cls._instances[address] = relay
            try:
                await relay.start()
            except BaseException as e:
                cls._instances.pop(address, None)
                relay.listening.set_exception(
                    OSError(f"relay {address} did not start: {e or type(e).__name__}"))
                relay.listening.exception()  # retrieved: the waiters below re-raise it
                raise
            relay.listening.set_result(None)
        else:
            # workers spawned together share the listener: none may start its process
            # before the listener accepts, or its connect is refused
            await asyncio.shield(relay.listening)
        relay.users += 1
        return relay

    def release_now(self) -> None:
        """Synchronous, so that a worker's close callback frees the listener (and the
        unix socket file) even when the loop ends right after the pool is destroyed."""
        self.users -= 1
        if self.users <= 0 and SocketRelay._instances.get(self.address) is self:
            SocketRelay._instances.pop(self.address, None)
            for transport, _proto, timer in self.parked.values():
                timer.cancel()
                transport.close()
            self.parked.clear()
            if self.server is not None:
                self.server.close()
            if self.path:
                with contextlib.suppress(OSError):
                    os.unlink(self.path)

    async def release(self) -> None:
        self.release_now()
        if self.users <= 0 and self.server is not None:
            await self.server.wait_closed()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        family, addr = parse_address(self.address)
        if family == getattr(__import__("socket"), "AF_UNIX", None):
            if os.path.exists(addr):
                os.unlink(addr)
            self.path = addr
            self.server = await loop.create_unix_server(lambda: _SocketProtocol(self), addr)
        else:
            host, port = addr
            self.server = await loop.create_server(lambda: _SocketProtocol(self), host, port,
                                                   reuse_address=True)

    def expect(self, pid: int) -> asyncio.Future[tuple[Any, _SocketProtocol]]:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        parked = self.parked.pop(pid, None)
        if parked is not None:
            parked[2].cancel()
            fut.set_result(parked[:2])
        else:
            self.waiting[pid] = fut
        return fut

    def park(self, pid: int, transport: Any, proto: _SocketProtocol) -> None:
        """Hold a connection whose process nobody expects yet; it is closed if no
        spawn claims it within PARK_SECONDS, and at most PARK_MAX are held."""
        def drop(p: int) -> None:
            held = self.parked.pop(p, None)
            if held is not None:
                held[2].cancel()
                self.log.warning("relay connection from an unknown process",
                                 extra={"fields": {"pid": p}})
                held[0].close()

        if len(self.parked) >= PARK_MAX:
            drop(next(iter(self.parked)))
        old = self.parked.get(pid)
        if old is not None:
            drop(pid)
        timer = asyncio.get_running_loop().call_later(PARK_SECONDS, drop, pid)
        self.parked[pid] = (transport, proto, timer)


class _SocketProtocol(asyncio.Protocol):
    """A worker's socket before and after its pid handshake."""

    def __init__(self, relay: SocketRelay) -> None:
        self.relay = relay
        self.worker: Worker | None = None
        self.parser = FrameParser()
        # uvloop's transports are not asyncio.Transport subclasses: only write/close are used
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        import json

        from rr.goridge import frame as fr

        self.transport = transport
        self.transport.write(fr.encode(json.dumps({"pid": os.getpid()}).encode(),
                                  fr.CONTROL | fr.CODEC_JSON))

    def data_received(self, data: bytes) -> None:
        import json

        if self.worker is not None:
            self.worker.on_data(data)
            return
        try:
            frames = self.parser.feed(data)
        except FrameError as e:
            self.relay.log.error("invalid handshake on the worker relay",
                                 extra={"fields": {"error": str(e)}})
            assert self.transport is not None
            self.transport.close()
            return
        if not frames:
            return
        f = frames[0]
        try:
            pid = int(json.loads(f.payload).get("pid", 0)) if f.flags & CONTROL else 0
        except (ValueError, AttributeError, TypeError):
            pid = 0
        assert self.transport is not None
        fut = self.relay.waiting.pop(pid, None)
        if fut is None and pid > 0:
            # on a loaded loop a fast worker can connect and answer before its spawner
            # has resumed to expect it: the connection waits (bounded) to be claimed
            self.relay.park(pid, self.transport, self)
            return
        if fut is None or fut.done():
            self.relay.log.warning("relay connection from an unknown process",
                                   extra={"fields": {"pid": pid}})
            self.transport.close()
            return
        fut.set_result((self.transport, self))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.worker is not None:
            self.worker.on_eof()


def _drop_privileges(user: str) -> Any:
    """server.user: run the worker with that user's uid and primary gid."""
    import pwd

    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        raise WorkerError(f"server.user: no such user: {user}") from None

    def demote() -> None:
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)

    return demote


class _ReadPipe(asyncio.Protocol):
    """The parent end of the worker's stdout pipe."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    def data_received(self, data: bytes) -> None:
        self.worker.on_data(data)

    def eof_received(self) -> bool | None:
        self.worker.on_eof()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.worker.on_eof()


async def _connect_pipes(worker: Worker, stdin_w: int, stdout_r: int) -> Channel:
    """Frames over real OS pipes. uvloop gives a child socketpairs for PIPE, and PHP
    applies default_socket_timeout (60 s) to a socket stdin: an idle worker's blocking
    read then fails ("Unable to read frame header") and the SDK loop answers a stray
    400 or dies. RoadRunner gives its workers pipes, so does rr, on every loop."""
    loop = asyncio.get_running_loop()
    rfile, wfile = os.fdopen(stdout_r, "rb", buffering=0), os.fdopen(stdin_w, "wb", buffering=0)
    try:
        reader, _ = await loop.connect_read_pipe(lambda: _ReadPipe(worker), rfile)
    except BaseException:
        rfile.close()
        wfile.close()
        raise
    try:
        writer, _ = await loop.connect_write_pipe(asyncio.Protocol, wfile)
    except BaseException:
        reader.close()
        wfile.close()
        raise
    proc = worker._transport

    def close() -> None:
        writer.close()
        reader.close()
        if proc is not None:
            proc.close()

    return Channel(writer.write, close)


async def spawn(command: list[str], env: dict[str, str], relay: str, user: str,
                logger: logging.Logger, timeout: float) -> Worker:
    """Start one worker and complete its pid handshake within ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    # own session/process group: a Ctrl-C on the terminal must not reach workers directly
    kwargs: dict[str, Any] = {"env": env, "start_new_session": True}
    if user:
        kwargs["preexec_fn"] = _drop_privileges(user)
    socket_relay: SocketRelay | None = None
    pipes: tuple[int, int, int, int] | None = None  # child stdin, ours, ours, child stdout
    if relay in ("", "pipes"):
        stdin_r, stdin_w = os.pipe()
        stdout_r, stdout_w = os.pipe()
        pipes = (stdin_r, stdin_w, stdout_r, stdout_w)
        stdin: Any = stdin_r
        stdout: Any = stdout_w
    else:
        if "://" not in relay or relay.startswith("tcp://:"):
            raise WorkerError("invalid DSN (tcp://:6001, unix://file.sock)")
        socket_relay = await SocketRelay.get(relay, logger)
        stdin = subprocess.DEVNULL
        stdout = subprocess.DEVNULL
    try:
        transport, proto = await loop.subprocess_exec(
            _PipeProtocol, *command, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE,
            **kwargs)
    except BaseException as e:  # also a cancelled start: nothing may leak
        if pipes is not None:
            os.close(pipes[1])  # ours; the child's ends are closed below
            os.close(pipes[2])
        if socket_relay is not None:
            await socket_relay.release()
        if not isinstance(e, (OSError, ValueError)):
            raise
        raise WorkerError(f"failed to spawn a worker: {command[0]}: {e}") from e
    finally:
        if pipes is not None:
            # the child's ends: ours would keep the pipe open after the child exits
            with contextlib.suppress(OSError):
                os.close(pipes[0])
            with contextlib.suppress(OSError):
                os.close(pipes[3])
    pid = transport.get_pid()
    worker = Worker(pid, command, logger)
    worker._transport = transport
    proto.worker = worker
    for _fd, data in proto.early:
        worker.on_stderr(data)
    if proto.exited:
        worker.on_exit(transport.get_returncode())

    try:
        if pipes is not None:
            ours, pipes = (pipes[1], pipes[2]), None  # _connect_pipes owns them now
            worker.channel = await _connect_pipes(worker, *ours)
            await asyncio.wait_for(worker.handshake(), timeout)
        else:
            assert socket_relay is not None
            fut = socket_relay.expect(pid)
            waitables: set[asyncio.Future[Any]] = {fut, worker.exited}
            done, _ = await asyncio.wait(waitables, timeout=timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
            if fut not in done:
                fut.cancel()
                socket_relay.waiting.pop(pid, None)
                raise WorkerError("worker exited before connecting to the relay"
                                  if worker.exited.done() else "relay connect timeout")
            sock_transport, sproto = fut.result()
            sproto.worker = worker
            relay_ref = socket_relay

            released = False

            def close() -> None:
                nonlocal released
                sock_transport.close()
                transport.close()
                if not released:  # a worker's channel may be closed more than once
                    released = True
                    relay_ref.release_now()

            worker.channel = Channel(sock_transport.write, close)
            socket_relay = None  # owned by the worker's channel now
    except BaseException as e:
        worker.kill()
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(worker.exited), 2)
        if worker.channel is not None:
            worker.channel.close()
        transport.close()
        if socket_relay is not None:
            await socket_relay.release()
        if isinstance(e, asyncio.CancelledError):
            raise
        reason = str(e) or type(e).__name__
        if isinstance(e, TimeoutError):
            reason = ("failed to spawn a worker, possible reasons: "
                      "https://docs.roadrunner.dev/error-codes/allocate-timeout")
        tail = worker.stderr_tail
        msg = f"failed to start worker ({' '.join(command)}): {reason}"
        if tail:
            msg += f"\nworker output: {tail[-2000:]}"
        raise WorkerError(msg) from None
    return worker
