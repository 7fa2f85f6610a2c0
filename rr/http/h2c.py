"""Choosing the protocol of a new connection: ALPN on TLS, the first bytes in clear text.

* TLS: the ALPN result (``h2`` or ``http/1.1``) is known when the connection is made.
* Plain with ``http.http2.h2c``: the HTTP/2 client preface (``PRI * HTTP/2.0``) means
  prior knowledge; an HTTP/1.1 head with ``Upgrade: h2c`` and ``HTTP2-Settings`` and no
  body is answered with ``101 Switching Protocols`` and served as stream 1 of an HTTP/2
  connection (a request with a body stays HTTP/1.1: RFC 7540 §3.2 lets the server ignore
  the upgrade); anything else is handed, bytes and all, to the HTTP/1.1 protocol.

Every protocol ends in the same listener handler chain, so a future one (HTTP/3) is one
more branch here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from rr.http.h2 import H2Protocol

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
MAX_HEAD = 65536
_SWITCH = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"


class Chooser(asyncio.Protocol):
    """Stands in for the connection's protocol until it is known, then hands over."""

    def __init__(self, http1: Callable[[], asyncio.Protocol],
                 http2: Callable[[], H2Protocol], tls: bool, timeout: float) -> None:
        self.http1 = http1
        self.http2 = http2
        self.tls = tls
        self.timeout = timeout
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if not self.tls:
            # a client that never says which protocol it speaks (or stops half-way
            # through the preface) must not hold the connection forever
            self._timer = asyncio.get_running_loop().call_later(self.timeout, transport.close)
        if self.tls:
            ssl_object = transport.get_extra_info("ssl_object")
            alpn = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
            self._hand_over(self.http2() if alpn == "h2" else self.http1(), b"")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        buf = self.buffer
        if buf[:len(PREFACE)] == PREFACE[:len(buf)]:
            if len(buf) >= len(PREFACE):
                self._hand_over(self.http2(), buf)
            return
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) <= MAX_HEAD:
                return
            self._hand_over(self.http1(), buf)
            return
        upgrade = _upgrade(buf[:end])
        if upgrade is None:
            self._hand_over(self.http1(), buf)
            return
        settings, headers = upgrade
        assert self.transport is not None
        self._cancel()
        self.transport.write(_SWITCH)
        proto = self.http2()
        self.transport.set_protocol(proto)
        proto.connection_made(self.transport, upgrade=settings)
        proto.start_upgraded(headers)
        rest = buf[end + 4:]
        if rest:
            proto.data_received(rest)

    def _hand_over(self, proto: asyncio.Protocol, data: bytes) -> None:
        assert self.transport is not None
        self._cancel()
        self.transport.set_protocol(proto)
        proto.connection_made(self.transport)
        if data:
            proto.data_received(data)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def connection_lost(self, exc: BaseException | None) -> None:
        self._cancel()


def _upgrade(head: bytes) -> tuple[bytes, list[tuple[bytes, bytes]]] | None:
    """The HTTP2-Settings value and the request as HTTP/2 headers, or None."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or parts[2] != b"HTTP/1.1":
        return None
    fields: list[tuple[bytes, bytes]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            return None
        fields.append((name.lower(), value.strip()))
    found: dict[bytes, bytes] = {}
    for name, value in fields:
        found[name] = value
    tokens = {t.strip().lower() for t in found.get(b"upgrade", b"").split(b",")}
    if b"h2c" not in tokens or b"http2-settings" not in found:
        return None
    if found.get(b"content-length", b"0") != b"0" or b"transfer-encoding" in found:
        return None
    skip = {b"connection", b"upgrade", b"http2-settings", b"host", b"keep-alive",
            b"proxy-connection", b"te", b"transfer-encoding"}
    headers: list[tuple[bytes, bytes]] = [
        (b":method", parts[0]), (b":path", parts[1]), (b":scheme", b"http"),
        (b":authority", found.get(b"host", b""))]
    headers += [(n, v) for n, v in fields if n not in skip]
    return found[b"http2-settings"], headers


def factory(http1: Callable[[], Any], http2: Callable[[], H2Protocol],
            tls: bool, timeout: float) -> Callable[[], Chooser]:
    return lambda: Chooser(http1, http2, tls, timeout)
