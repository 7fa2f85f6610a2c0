from __future__ import annotations

import contextlib
import http.client
import json
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import RRProcess, free_port, php_worker


@dataclass
class Server:
    rr: RRProcess
    port: int
    workdir: Path

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | list[tuple[str, str]] | None = None,
                timeout: float = 30.0) -> tuple[int, http.client.HTTPMessage, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            items = headers.items() if isinstance(headers, dict) else (headers or [])
            for k, v in items:
                conn.putheader(k, v)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
            return resp.status, resp.headers, resp.read()
        finally:
            conn.close()

    def get_json(self, path: str, **kw: Any) -> dict[str, Any]:
        status, _, body = self.request("GET", path, **kw)
        assert status == 200, body
        return json.loads(body)  # type: ignore[no-any-return]


ServeFn = Callable[..., Server]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServeFn]:
    started: list[RRProcess] = []

    def start(http_extra: str = "", pool: str = "num_workers: 2", top: str = "",
              worker: str = "http_app.php", args: list[str] | None = None,
              wait: bool = True) -> Server:
        port = free_port()
        cfg = textwrap.dedent("""\
            version: "3"
            server:
              command: "{cmd}"
            logs:
              mode: production
              level: debug
            http:
              address: 127.0.0.1:{port}
            {http_extra}
              pool:
            {pool}
            {top}
            """).format(cmd=php_worker(worker), port=port,
                        http_extra=textwrap.indent(textwrap.dedent(http_extra), "  "),
                        pool=textwrap.indent(textwrap.dedent(pool), "    "),
                        top=textwrap.dedent(top))
        rr = RRProcess(cfg, tmp_path, args=args)
        started.append(rr)
        rr.start(wait=wait)
        return Server(rr, port, tmp_path)

    yield start
    for rr in started:
        with contextlib.suppress(Exception):
            rr.stop(timeout=20)
        rr.kill()
