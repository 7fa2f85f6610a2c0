"""A TCP proxy in front of a broker that a test can cut and restore.

``cut()`` closes every proxied connection and stops listening, so clients see a dropped
connection and then "connection refused" while they redial; ``restore()`` listens again
on the same port. Threads (not asyncio) so that sync tests and tests running their own
event loop can both use it.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from tests.helpers import free_port


class TCPProxy:
    def __init__(self, target_host: str, target_port: int, port: int | None = None) -> None:
        self.target = (target_host, target_port)
        self.port = port or free_port()
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._accepting: threading.Thread | None = None
        self.connections_total = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    # lifecycle ----------------------------------------------------------------------
    def start(self) -> TCPProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        self._accepting = threading.Thread(target=self._accept_loop, args=(listener,),
                                           daemon=True)
        self._accepting.start()
        return self

    def cut(self) -> None:
        """Drop every connection and refuse new ones until restore()."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        if self._accepting is not None:
            self._accepting.join(5)
        with self._lock:
            conns, self._conns = self._conns, set()
        for conn in conns:
            _hard_close(conn)

    def restore(self) -> None:
        if self._listener is None:
            self.start()

    def close(self) -> None:
        self.cut()

    def __enter__(self) -> TCPProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def active_connections(self) -> int:
        with self._lock:
            return len(self._conns) // 2

    # plumbing -----------------------------------------------------------------------
    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if self._listener is not listener:
                _hard_close(client)
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _hard_close(client)
                continue
            with self._lock:
                self._conns.update((client, upstream))
                self.connections_total += 1
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._conns.discard(src)
                self._conns.discard(dst)
            _hard_close(src)
            _hard_close(dst)


def _hard_close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
