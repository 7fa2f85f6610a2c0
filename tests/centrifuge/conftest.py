"""`rr serve` with a centrifuge section in front of tests/php/centrifuge_worker.php, plus a
stand-in for Centrifugo's gRPC server API that records what rr forwards to it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.helpers import RRProcess, free_port, php_worker

API_SERVICE = "centrifugal.centrifugo.api.CentrifugoApi"


@dataclass
class StandInApi:
    """A grpcio server answering every API method; ``replies`` maps a method to the
    raw response bytes (default: empty message)."""

    port: int
    calls: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)
    replies: dict[str, bytes] = field(default_factory=dict)
    server: grpc.Server | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    credentials: grpc.ServerCredentials | None = None  # TLS instead of plain h2c

    def start(self) -> StandInApi:
        api = self

        class Handler(grpc.GenericRpcHandler):
            def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
                method = details.method.rsplit("/", 1)[-1]
                if not details.method.startswith(f"/{API_SERVICE}/"):
                    return None

                def unary(body: bytes, ctx: Any) -> bytes:
                    md = {k: v for k, v in ctx.invocation_metadata() if isinstance(v, str)}
                    with api.lock:
                        api.calls.append((method, body, md))
                    return api.replies.get(method, b"")
                return grpc.unary_unary_rpc_method_handler(unary)

        self.server = grpc.server(futures.ThreadPoolExecutor(4))
        self.server.add_generic_rpc_handlers((Handler(),))
        if self.credentials is not None:
            self.server.add_secure_port(f"127.0.0.1:{self.port}", self.credentials)
        else:
            self.server.add_insecure_port(f"127.0.0.1:{self.port}")
        self.server.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop(0)


@dataclass
class CentrifugeRR:
    rr: RRProcess
    proxy: str
    rpc: str
    api: StandInApi
    ws_port: int = 0

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}/connection/websocket"


def centrifuge_config(*, proxy_port: int, api_port: int, rpc: str, ws_port: int = 0,
                      ws_extra: str = "", workers: int = 2, top: str = "",
                      extra: str = "") -> str:
    ws = ""
    if ws_port:
        ws = f"  websocket:\n    address: 127.0.0.1:{ws_port}\n" + ws_extra
    return (f'version: "3"\nserver:\n  command: "{php_worker("centrifuge_worker.php")}"\n'
            f"rpc:\n  listen: tcp://{rpc}\n"
            f"centrifuge:\n  proxy_address: tcp://127.0.0.1:{proxy_port}\n"
            f"  grpc_api_address: tcp://127.0.0.1:{api_port}\n{extra}{ws}"
            f"  pool:\n    num_workers: {workers}\n    allocate_timeout: 60s\n{top}")


Start = Callable[..., CentrifugeRR]


@pytest.fixture
def start_rr(tmp_path: Path) -> Iterator[Start]:
    made: list[CentrifugeRR] = []

    def start(ws: bool = False, ws_extra: str = "", workers: int = 2, top: str = "",
              sub: str = "", extra: str = "", env: dict[str, str] | None = None,
              api_credentials: grpc.ServerCredentials | None = None) -> CentrifugeRR:
        workdir = tmp_path / sub if sub else tmp_path
        workdir.mkdir(exist_ok=True)
        api = StandInApi(free_port(), credentials=api_credentials).start()
        proxy_port, rpc = free_port(), f"127.0.0.1:{free_port()}"
        ws_port = free_port() if ws else 0
        rr = RRProcess(centrifuge_config(proxy_port=proxy_port, api_port=api.port, rpc=rpc,
                                         ws_port=ws_port, ws_extra=ws_extra, workers=workers,
                                         top=top, extra=extra), workdir, env=env)
        c = CentrifugeRR(rr, f"127.0.0.1:{proxy_port}", rpc, api, ws_port)
        made.append(c)
        rr.start(timeout=60)
        return c

    yield start
    for c in made:
        try:
            c.rr.stop()
        finally:
            c.rr.kill()
            c.api.stop()
