"""A small asyncio client for the beanstalkd protocol (protocol.txt of beanstalkd 1.12).

No maintained asyncio client exists on PyPI (greenstalk is synchronous, aiostalk covers a
subset), and the protocol is a handful of ASCII lines, so the driver speaks it itself.
One ``Connection`` is one TCP (or unix) stream; commands on it are serialised by a lock,
since beanstalkd answers strictly in order and a job can only be deleted, released,
buried or touched by the connection that reserved it.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from rr.errors import ConfigError


class BeanstalkError(Exception):
    """beanstalkd answered with an error line (``NOT_FOUND``, ``JOB_TOO_BIG``, ...)."""


class TimedOut(Exception):
    """``reserve-with-timeout`` found no job."""


#: answers that mean "the job is not (or no longer) ours": harmless for delete/touch
NOT_FOUND = "NOT_FOUND"


@dataclass(frozen=True, slots=True)
class Address:
    host: str = "127.0.0.1"
    port: int = 11300
    path: str = ""

    @classmethod
    def parse(cls, dsn: str) -> Address:
        """``tcp://host:port`` or ``unix:///path`` (RoadRunner's DSN rule)."""
        scheme, sep, rest = dsn.partition("://")
        if not sep:
            raise ConfigError("invalid socket DSN (tcp://127.0.0.1:11300, "
                              f"unix://beanstalk.sock), provided: {dsn}")
        if scheme == "unix":
            return cls(path=rest)
        host, _, port = rest.rpartition(":")
        try:
            return cls(host=host or "127.0.0.1", port=int(port))
        except ValueError:
            raise ConfigError(f"beanstalk.addr: expected tcp://host:port, got {dsn!r}") \
                from None


@dataclass(frozen=True, slots=True)
class Reserved:
    id: int
    body: bytes


class Connection:
    def __init__(self, address: Address, timeout: float = 30.0) -> None:
        self.address = address
        self.timeout = timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()

    @property
    def open(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    async def connect(self) -> None:
        a = self.address
        if a.path:
            conn = asyncio.open_unix_connection(a.path, limit=2 ** 24)
        else:
            conn = asyncio.open_connection(a.host, a.port, limit=2 ** 24)
        self._reader, self._writer = await asyncio.wait_for(conn, self.timeout)

    async def close(self) -> None:
        w, self._writer, self._reader = self._writer, None, None
        if w is not None:
            with contextlib.suppress(OSError, RuntimeError):
                w.write(b"quit\r\n")
                w.close()
                await asyncio.wait_for(w.wait_closed(), 2)

    async def _call(self, line: bytes, body: bytes | None = None, wait: float = 0.0
                    ) -> tuple[list[str], bytes]:
        """Send one command, read its answer line and (for FOUND/RESERVED/OK) its body."""
        async with self._lock:
            if self._reader is None or self._writer is None:
                raise ConnectionError("beanstalk: not connected")
            reader, writer = self._reader, self._writer
            try:
                writer.write(line + b"\r\n" if body is None else
                             line + b"\r\n" + body + b"\r\n")
                await writer.drain()
                answer = await asyncio.wait_for(reader.readuntil(b"\r\n"),
                                                wait + self.timeout)
                words = answer.decode("ascii", "replace").split()
                data = b""
                if words and words[0] in ("RESERVED", "FOUND", "OK"):
                    size = int(words[-1])
                    data = (await asyncio.wait_for(reader.readexactly(size + 2),
                                                   self.timeout))[:-2]
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                    TimeoutError) as e:
                # the stream is out of step now: drop it, the caller reconnects
                self._writer, self._reader = None, None
                writer.close()
                raise ConnectionError(f"beanstalk: {e!r}") from e
        if not words:
            raise ConnectionError("beanstalk: empty answer")
        return words, data

    @staticmethod
    def _expect(words: list[str], *ok: str) -> list[str]:
        if words[0] not in ok:
            raise BeanstalkError(" ".join(words))
        return words

    async def use(self, tube: str) -> None:
        self._expect((await self._call(f"use {tube}".encode()))[0], "USING")

    async def watch(self, tube: str) -> None:
        self._expect((await self._call(f"watch {tube}".encode()))[0], "WATCHING")

    async def ignore(self, tube: str) -> None:
        self._expect((await self._call(f"ignore {tube}".encode()))[0], "WATCHING",
                     "NOT_IGNORED")

    async def put(self, body: bytes, priority: int, delay: int, ttr: int) -> int:
        words, _ = await self._call(f"put {priority} {delay} {ttr} {len(body)}".encode(),
                                    body)
        return int(self._expect(words, "INSERTED")[1])

    async def reserve(self, timeout: int) -> Reserved:
        words, data = await self._call(f"reserve-with-timeout {timeout}".encode(),
                                       wait=timeout)
        if words[0] in ("TIMED_OUT", "DEADLINE_SOON"):
            raise TimedOut()
        return Reserved(int(self._expect(words, "RESERVED")[1]), data)

    async def delete(self, job_id: int) -> bool:
        words, _ = await self._call(f"delete {job_id}".encode())
        return self._expect(words, "DELETED", NOT_FOUND)[0] == "DELETED"

    async def release(self, job_id: int, priority: int, delay: int) -> bool:
        words, _ = await self._call(f"release {job_id} {priority} {delay}".encode())
        return self._expect(words, "RELEASED", "BURIED", NOT_FOUND)[0] != NOT_FOUND

    async def bury(self, job_id: int, priority: int) -> bool:
        words, _ = await self._call(f"bury {job_id} {priority}".encode())
        return self._expect(words, "BURIED", NOT_FOUND)[0] == "BURIED"

    async def touch(self, job_id: int) -> bool:
        words, _ = await self._call(f"touch {job_id}".encode())
        return self._expect(words, "TOUCHED", NOT_FOUND)[0] == "TOUCHED"

    async def kick_job(self, job_id: int) -> bool:
        words, _ = await self._call(f"kick-job {job_id}".encode())
        return self._expect(words, "KICKED", NOT_FOUND)[0] == "KICKED"

    async def peek(self, job_id: int) -> bytes | None:
        words, data = await self._call(f"peek {job_id}".encode())
        return data if self._expect(words, "FOUND", NOT_FOUND)[0] == "FOUND" else None

    async def peek_buried(self) -> Reserved | None:
        words, data = await self._call(b"peek-buried")
        if self._expect(words, "FOUND", NOT_FOUND)[0] == NOT_FOUND:
            return None
        return Reserved(int(words[1]), data)

    async def reserve_job(self, job_id: int) -> Reserved | None:
        """Reserve one job by id, whatever its state (beanstalkd 1.12+), buried included."""
        words, data = await self._call(f"reserve-job {job_id}".encode())
        if self._expect(words, "RESERVED", NOT_FOUND)[0] == NOT_FOUND:
            return None
        return Reserved(int(words[1]), data)

    async def stats_job(self, job_id: int) -> dict[str, str]:
        words, data = await self._call(f"stats-job {job_id}".encode())
        if self._expect(words, "OK", NOT_FOUND)[0] == NOT_FOUND:
            return {}
        return parse_stats(data)

    async def stats_tube(self, tube: str) -> dict[str, str]:
        words, data = await self._call(f"stats-tube {tube}".encode())
        if words[0] == NOT_FOUND:
            return {}
        self._expect(words, "OK")
        return parse_stats(data)


def parse_stats(data: bytes) -> dict[str, str]:
    """The flat YAML map of ``stats``/``stats-tube`` (``key: value`` lines)."""
    out: dict[str, str] = {}
    for line in data.decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition(":")
        if sep and not key.startswith("---"):
            out[key.strip()] = value.strip()
    return out
