"""The built-in Centrifugo-compatible endpoint, beside a bare aiohttp WebSocket server in
the same run (the ratio is the figure; absolute numbers drift on this shared machine).

* fan-out: N subscribers on one channel; K publications sent by PHP through
  centrifuge.Broadcast; messages delivered per second (N*K over the time from the first
  publication to the last delivery) and rr's CPU seconds per delivered message. The
  baseline is a bare aiohttp server writing the same frames to the same N sockets;
* publish round trips: one connection sends publish commands (16 in flight), each
  through the PHP publish handler, on a channel nobody reads. Baseline: the bare server
  answering each command at once (no PHP).
* the same two against rr with every client on the protobuf framing
  (``centrifuge-protobuf``), beside rr's JSON row.

    python bench/websocket.py [--subscribers 1000] [--publications 50] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# bench/http.py would shadow the stdlib http module that aiohttp imports
sys.path[0] = str(ROOT)

import aiohttp  # noqa: E402
import psutil  # noqa: E402
from google.protobuf.internal.decoder import _DecodeVarint  # type: ignore[attr-defined]  # noqa: E402
from google.protobuf.internal.encoder import _VarintBytes  # type: ignore[attr-defined]  # noqa: E402

from rr.centrifuge.proto import client_protocol_pb2  # noqa: E402

cpb: Any = client_protocol_pb2

PUBLISH = '{{"id":{},"publish":{{"channel":"sink","data":{{"x":1}}}}}}'
WORKER = f"php {ROOT / 'tests' / 'php' / 'centrifuge_worker.php'}"

BARE = """
import asyncio, json, sys
from aiohttp import web
subs = []
async def handle(request):
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for msg in ws:
        for line in msg.data.split("\\n"):
            cmd = json.loads(line)
            if "subscribe" in cmd:
                subs.append(ws)
            if "rpc" in cmd:  # broadcast K publications to every subscriber
                for i in range(cmd["rpc"]["data"]["count"]):
                    frame = json.dumps({"push": {"channel": "all", "pub": {"data": {"i": i}}}},
                                       separators=(",", ":"))
                    for s in list(subs):
                        await s.send_str(frame)
            await ws.send_str(json.dumps({"id": cmd.get("id", 0), "publish": {}},
                                         separators=(",", ":")))
    return ws
app = web.Application()
app.router.add_get("/connection/websocket", handle)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"port {port} never opened")


class JsonWire:
    """What a client of the JSON framing sends and how it reads frames."""

    protocols: tuple[str, ...] = ()
    connect = '{"id":1,"connect":{}}'
    subscribe = '{"id":1,"connect":{}}\n{"id":2,"subscribe":{"channel":"all"}}'

    def flood(self, k: int) -> str:
        return json.dumps({"id": 2, "rpc": {"method": "flood", "data": {
            "channel": "all", "count": k, "size": 16}}})

    def publish(self, i: int) -> str:
        return PUBLISH.format(i)

    def read(self, data: str) -> list[str]:
        """Each message as "push", "reply:<id>" or "ping"."""
        out = []
        for line in data.split("\n"):
            if '"push"' in line:
                out.append("push")
            elif line == "{}":
                out.append("ping")
            else:
                out.append("reply:" + line[6:line.index(",")] if line.startswith('{"id":')
                           else "reply:")
        return out

    pong = "{}"


def _frame(*cmds: object) -> bytes:
    out = b""
    for c in cmds:
        body = c.SerializeToString()  # type: ignore[attr-defined]
        out += _VarintBytes(len(body)) + body
    return out


class ProtobufWire(JsonWire):
    protocols = ("centrifuge-protobuf",)
    connect = _frame(cpb.Command(id=1, connect=cpb.ConnectRequest()))  # type: ignore[assignment]
    subscribe = _frame(cpb.Command(id=1, connect=cpb.ConnectRequest()),  # type: ignore[assignment]
                       cpb.Command(id=2, subscribe=cpb.SubscribeRequest(channel="all")))
    pong = b"\x00"  # type: ignore[assignment]

    def flood(self, k: int) -> bytes:  # type: ignore[override]
        data = json.dumps({"channel": "all", "count": k, "size": 16}).encode()
        return _frame(cpb.Command(id=2, rpc=cpb.RPCRequest(method="flood", data=data)))

    def publish(self, i: int) -> bytes:  # type: ignore[override]
        return _frame(cpb.Command(id=i, publish=cpb.PublishRequest(channel="sink",
                                                                    data=b'{"x":1}')))

    def read(self, data: bytes) -> list[str]:  # type: ignore[override]
        out, pos = [], 0
        while pos < len(data):
            size, pos = _DecodeVarint(data, pos)
            r = cpb.Reply.FromString(data[pos:pos + size])
            pos += size
            out.append("push" if r.HasField("push") else f"reply:{r.id}" if r.id else "ping")
        return out


async def send(ws: aiohttp.ClientWebSocketResponse, msg: str | bytes) -> None:
    await (ws.send_bytes(msg) if isinstance(msg, bytes) else ws.send_str(msg))


async def fan_out(url: str, n: int, k: int, proc: psutil.Process,
                  wire: JsonWire) -> tuple[float, float]:
    ready = asyncio.Queue[int]()
    done = asyncio.Event()
    counter = [0]

    async def sub(s: aiohttp.ClientSession) -> None:
        async with s.ws_connect(url, protocols=wire.protocols) as ws:
            await send(ws, wire.subscribe)
            async for msg in ws:
                for kind in wire.read(msg.data):
                    if kind == "push":
                        counter[0] += 1
                        if counter[0] == n * k:
                            done.set()
                    elif kind == "reply:2":
                        await ready.put(1)
                    elif kind == "ping":
                        await send(ws, wire.pong)
                if done.is_set():
                    return

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
        tasks = [asyncio.create_task(sub(s)) for _ in range(n)]
        for _ in range(n):
            await ready.get()
        async with s.ws_connect(url, protocols=wire.protocols) as pub:
            await send(pub, wire.connect)
            await pub.receive()
            cpu0 = sum(proc.cpu_times()[:2])
            start = time.perf_counter()
            await send(pub, wire.flood(k))
            await asyncio.wait_for(done.wait(), 600)
            elapsed = time.perf_counter() - start
            cpu = sum(proc.cpu_times()[:2]) - cpu0
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return n * k / elapsed, cpu / (n * k)


async def round_trips(url: str, seconds: float, wire: JsonWire, inflight: int = 16) -> float:
    async with aiohttp.ClientSession() as s, s.ws_connect(url, protocols=wire.protocols) as ws:
        await send(ws, wire.connect)
        await ws.receive()
        next_id, done = 2, 0
        end = time.perf_counter() + seconds
        start = time.perf_counter()
        for _ in range(inflight):
            await send(ws, wire.publish(next_id))
            next_id += 1
        while time.perf_counter() < end:
            msg = await ws.receive()
            for kind in wire.read(msg.data):
                if kind == "ping":
                    await send(ws, wire.pong)
                    continue
                done += 1
                await send(ws, wire.publish(next_id))
                next_id += 1
        return done / (time.perf_counter() - start)


def rr_config(ws: int, rpc: int) -> str:
    return (f'version: "3"\nserver:\n  command: "{WORKER}"\nrpc:\n  listen: tcp://127.0.0.1:{rpc}\n'
            "logs:\n  level: error\n"
            f"centrifuge:\n  proxy_address: \"off\"\n  websocket:\n    address: 127.0.0.1:{ws}\n"
            "    send_queue_size: 16777216\n  pool:\n    num_workers: 2\n")


def measure(url: str, proc: psutil.Process, a: argparse.Namespace,
            wire: JsonWire) -> tuple[float, float, float]:
    rate, cpu = asyncio.run(fan_out(url, a.subscribers, a.publications, proc, wire))
    trips = asyncio.run(round_trips(url, a.seconds, wire))
    return rate, cpu, trips


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--subscribers", type=int, default=1000)
    p.add_argument("--publications", type=int, default=50)
    p.add_argument("--seconds", type=float, default=5.0)
    a = p.parse_args()
    rows = []
    port = free_port()
    bare = subprocess.Popen([sys.executable, "-c", BARE, str(port)])
    try:
        wait_port(port)
        rows.append(("bare-aiohttp", *measure(
            f"ws://127.0.0.1:{port}/connection/websocket", psutil.Process(bare.pid), a,
            JsonWire())))
    finally:
        bare.terminate()
        bare.wait()
    with tempfile.TemporaryDirectory() as tmp:
        ws, rpc = free_port(), free_port()
        cfg = Path(tmp) / ".rr.yaml"
        cfg.write_text(rr_config(ws, rpc))
        rr = subprocess.Popen([sys.executable, "-m", "rr", "serve", "-c", str(cfg)], cwd=tmp,
                              env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
        try:
            wait_port(ws)
            url, proc = f"ws://127.0.0.1:{ws}/connection/websocket", psutil.Process(rr.pid)
            rows.append(("rr centrifuge", *measure(url, proc, a, JsonWire())))
            rows.append(("rr protobuf", *measure(url, proc, a, ProtobufWire())))
        finally:
            rr.terminate()
            rr.wait(60)
    print(f"{a.subscribers} subscribers x {a.publications} publications; publish round "
          "trips with 16 in flight")
    print(f"{'server':<16}{'delivered msg/s':>18}{'CPU us/msg':>12}{'publish rt/s':>14}")
    for name, rate, cpu, trips in rows:
        print(f"{name:<16}{rate:>18,.0f}{cpu * 1e6:>12.1f}{trips:>14,.0f}")
    print(f"ratio rr/bare: fan-out {rows[1][1] / rows[0][1]:.2f}, "
          f"publish {rows[1][3] / rows[0][3]:.2f}; protobuf/json: fan-out "
          f"{rows[2][1] / rows[1][1]:.2f}, publish {rows[2][3] / rows[1][3]:.2f}")


if __name__ == "__main__":
    main()
