"""rr vs nginx + php-fpm on the same PHP scripts, side by side in one run.

    python bench/http.py [--workers N] [--duration 10s] [--connections 32]
                         [--only hello,psr7,boot] [--cpus 0] [--h1 own,aiohttp]
                         [--processes 1,2] [--rounds 3]

Runs `wrk -t2 -c<connections> -d<duration> --latency` against each server and prints
req/s, p50 and p99 with the rr/fpm ratio, and the CPU time the rr process and its PHP
workers spent per request: with ``--cpus`` both servers run under ``taskset -c <cpus>``
(wrk stays free), which gives the per-core throughput, and the two CPU figures give the
expected throughput on N cores (docs/scaling.md).
``--processes 1,2`` runs rr once per value of ``http.processes`` (the same workers split
over the front processes) beside the one nginx + FPM run; "rr cpu" is then the CPU of
rr's main process and every front process together.
The same rr listener has h2c on: `h2load -c<connections> -m8` (nghttp2-client) gives the
HTTP/2 column beside the two HTTP/1.1 ones.
``psr7`` answers like ``hello`` through what PSR7Worker does per request (an immutable
PSR-7 request built from the context, a PSR-7 response read back); under FPM it is the
plain hello script. ``--h1 own,aiohttp`` runs rr once per HTTP/1.1 protocol (rr's own
connection, rr/http/h1.py, and aiohttp's) in the same run.
The CPU per request is the figure to compare between versions of rr: it drifts far less
than req/s. Absolute numbers drift on a shared machine; compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

import psutil

ROOT = Path(__file__).resolve().parent.parent
Row = tuple[float, float, float]
PHP_SRC = Path(__file__).resolve().parent / "php"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"port {port} did not open")


def generate(app: Path) -> None:
    app.mkdir(parents=True, exist_ok=True)
    for name in ("hello.php", "psr7.php", "boot.php"):
        shutil.copy(PHP_SRC / name, app / name)
    classes = app / "classes"
    classes.mkdir(exist_ok=True)
    for i in range(300):
        (classes / f"Service{i}.php").write_text(
            f"<?php\nnamespace Bench;\nfinal class Service{i} {{\n"
            f"    private array $cfg = ['id' => {i}, 'name' => 'service{i}'];\n"
            f"    public function value(): int {{ return $this->cfg['id'] % 7; }}\n}}\n")


def pinned(cpus: str) -> list[str]:
    return ["taskset", "-c", cpus] if cpus else []


def cpu_seconds(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system
    return total


def start_fpm(tmp: Path, app: Path, workers: int, cpus: str = ""
              ) -> tuple[list[subprocess.Popen[bytes]], int]:
    port = free_port()
    sock = tmp / "fpm.sock"
    (tmp / "fpm.conf").write_text(f"""[global]
error_log = {tmp}/fpm.log
daemonize = no
[www]
user = root
group = root
listen = {sock}
listen.mode = 0666
pm = static
pm.max_children = {workers}
catch_workers_output = yes
""")
    (tmp / "nginx.conf").write_text(f"""user root;
worker_processes 1;
error_log {tmp}/nginx.err;
pid {tmp}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    fastcgi_temp_path {tmp}/fcgi;
    proxy_temp_path {tmp}/proxy;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {app};
        location ~ ^/(hello|psr7|boot)$ {{
            fastcgi_pass unix:{sock};
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME {app}/$1.php;
            fastcgi_keep_conn on;
        }}
    }}
}}
""")
    fpm_bin = shutil.which("php-fpm8.2") or "/usr/sbin/php-fpm8.2"
    fpm = subprocess.Popen([*pinned(cpus), fpm_bin, "-R", "-F", "-y", str(tmp / "fpm.conf")],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if sock.exists():
            break
        time.sleep(0.05)
    nginx = subprocess.Popen([*pinned(cpus), "nginx", "-c", str(tmp / "nginx.conf"), "-p", str(tmp),
                              "-g", "daemon off;"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return [nginx, fpm], port


def start_rr(tmp: Path, app: Path, script: str, workers: int, cpus: str = "",
             processes: int = 1, h1: str = "own") -> tuple[list[subprocess.Popen[bytes]], int]:
    port = free_port()
    cfg = tmp / f"rr-{script}-{processes}-{h1}.yaml"
    cfg.write_text(f"""version: "3"
server:
  command: "php {app / (script + '.php')}"
  env:
    RR_PHP_LIB: {ROOT / 'php'}
logs:
  mode: production
  level: warn
http:
  address: 127.0.0.1:{port}
  processes: {processes}
  http2:
    h2c: true
  pool:
    num_workers: {workers}
""")
    env = {**os.environ, "RR_HTTP1_PROTOCOL": "aiohttp" if h1 == "aiohttp" else ""}
    proc = subprocess.Popen([*pinned(cpus), sys.executable, "-m", "rr", "serve", "-c", str(cfg)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env)
    wait_port(port)
    # every front's workers (the port opens with the first front)
    deadline = time.monotonic() + 60
    while len(rr_processes(psutil.Process(proc.pid))[1]) < workers:
        if time.monotonic() > deadline:
            raise TimeoutError(f"rr did not start {workers} workers")
        time.sleep(0.1)
    time.sleep(1.0)  # let every worker finish booting
    return [proc], port


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()


def wrk(url: str, duration: str, connections: int, count: bool = False
        ) -> tuple[tuple[float, float, float], int]:
    """(req/s, p50 ms, p99 ms) and the number of requests completed."""
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{duration}", "--latency", url],
                         capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"{url} answered with errors:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def pct(p: str) -> float:
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        assert m, out
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
        return float(m.group(1)) * scale

    done = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return (rps, pct("50"), pct("99")), done


def h2load(url: str, duration: str, connections: int, tmp: Path
           ) -> tuple[tuple[float, float, float], int]:
    """(req/s, p50 ms, p99 ms) and requests done, over h2c with 8 streams a connection."""
    log = tmp / "h2load.log"
    out = subprocess.run(["h2load", f"-c{connections}", "-m8", "-t2", f"-D{duration}",
                          f"--log-file={log}", url],
                         capture_output=True, text=True, check=True).stdout
    m = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded", out)
    assert m, out
    if int(m.group(2)) != int(m.group(3)):
        raise RuntimeError(f"{url} answered with errors over h2:\n{out}")
    rps = float(re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out).group(1))  # type: ignore[union-attr]
    # --log-file: start time, status, elapsed microseconds per request
    lat = sorted(int(line.split()[2]) for line in log.read_text().splitlines() if line)
    if not lat:
        raise RuntimeError(f"h2load logged no requests:\n{out}")
    return (rps, lat[len(lat) // 2] / 1000, lat[int(len(lat) * 0.99)] / 1000), int(m.group(2))


def rr_processes(server: psutil.Process) -> tuple[list[psutil.Process], list[psutil.Process]]:
    """(rr's own processes: main and HTTP/gRPC fronts, the PHP workers under them)."""
    fronts = [p for p in server.children() if ".frontchild" in " ".join(p.cmdline())]
    ours = {p.pid for p in fronts} | {server.pid}
    return [server, *fronts], [p for p in server.children(recursive=True) if p.pid not in ours]


def cpu_per_request(server: psutil.Process, run: Callable[[], tuple[Row, int]]
                    ) -> tuple[Row, float, float]:
    """The run's row and the CPU µs per request of rr's processes and of its workers."""
    rr, php = rr_processes(server)
    before, php_before = cpu_seconds(rr), cpu_seconds(php)
    row, done = run()
    per = 1e6 / max(done, 1)
    return row, (cpu_seconds(rr) - before) * per, (cpu_seconds(php) - php_before) * per


T = TypeVar("T")


def median_by(items: list[T], key: Callable[[T], float]) -> T:
    """The item with the median key (the lower middle one for an even count)."""
    return sorted(items, key=key)[(len(items) - 1) // 2]


def measure_rr(tmp: Path, app: Path, script: str, workers: int, count: int, h1: str,
               args: argparse.Namespace) -> tuple[Row, float, float, Row, float]:
    """One rr run: the wrk row, rr and PHP CPU per request, the h2load row, rr CPU on h2."""
    procs, port = start_rr(tmp, app, script, workers, args.cpus, count, h1)
    url = f"http://127.0.0.1:{port}/"
    try:
        server = psutil.Process(procs[0].pid)
        rr, cpu_us, php_us = cpu_per_request(server, partial(
            wrk, url, args.duration, args.connections, count=True))
        h2, cpu_h2, _ = cpu_per_request(server, partial(
            h2load, url, args.duration, args.connections, tmp))
    finally:
        stop(procs)
    return rr, cpu_us, php_us, h2, cpu_h2


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2,
                    help="PHP workers for `hello` (rr pool size = php-fpm pm.max_children)")
    ap.add_argument("--boot-workers", type=int, default=8,
                    help="PHP workers for `boot`, whose handler mostly waits (same for both)")
    ap.add_argument("--duration", default="10s")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--only", default="hello,psr7,boot")
    ap.add_argument("--h1", default="own",
                    help="rr's HTTP/1.1 protocols to run: own (rr/http/h1.py), aiohttp")
    ap.add_argument("--cpus", default="",
                    help="run both servers under taskset -c CPUS (e.g. 0: one core)")
    ap.add_argument("--processes", default="1",
                    help="http.processes values to run rr with, e.g. 1,2 (one row each)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="repeat fpm and every rr run this many times, interleaved; print "
                         "the round with the median req/s of each (a shared machine drifts)")
    args = ap.parse_args()
    scripts = [s for s in args.only.split(",") if s]
    counts = [int(p) for p in args.processes.split(",") if p]
    rows = []
    with tempfile.TemporaryDirectory(prefix="rr-bench-") as d:
        tmp = Path(d)
        app = tmp / "app"
        generate(app)
        for s in scripts:
            workers = args.boot_workers if s == "boot" else args.workers
            fpms: list[Row] = []
            variants = [(h1, count) for h1 in [p for p in args.h1.split(",") if p]
                        for count in counts]
            runs: dict[tuple[str, int], list[tuple[Row, float, float, Row, float]]] = {
                v: [] for v in variants}
            for _ in range(args.rounds):
                procs, fpm_port = start_fpm(tmp, app, workers, args.cpus)
                try:
                    fpms.append(wrk(f"http://127.0.0.1:{fpm_port}/{s}", args.duration,
                                    args.connections)[0])
                finally:
                    stop(procs)
                for h1, count in variants:
                    runs[(h1, count)].append(measure_rr(tmp, app, s, workers, count, h1, args))
            fpm = median_by(fpms, lambda r: r[0])
            for h1, count in variants:
                rows.append((s if h1 == "own" else f"{s}/aio", workers, count, fpm,
                             *median_by(runs[(h1, count)], lambda r: r[0][0])))
    cores = f"taskset -c {args.cpus}" if args.cpus else f"{os.cpu_count()} cores"
    print(f"wrk -t2 -c{args.connections} -d{args.duration} --latency; the same number of PHP "
          f"workers for rr and php-fpm (pm=static) per script; {cores}")
    if args.rounds > 1:
        print(f"each row: the median-req/s round of {args.rounds} interleaved rounds")
    print("cpu: CPU time (user+system) per request of the rr process and of its PHP "
          "workers; steadier than req/s on a shared machine")
    print(f"h2: h2load -c{args.connections} -m8 against the same rr listener (h2c)")
    print("<script>/aio: rr with aiohttp's HTTP/1.1 protocol (RR_HTTP1_PROTOCOL=aiohttp)")
    print("procs: http.processes (rr front processes; rr cpu counts all of rr's processes)")
    print(f"{'script':10} {'workers':>7} {'procs':>5} {'fpm req/s':>10} {'p50':>8} {'p99':>8} | "
          f"{'rr req/s':>10} {'p50':>8} {'p99':>8} {'rr cpu':>8} {'php cpu':>8} | "
          f"{'ratio':>6} | {'h2 req/s':>10} {'p50':>8} {'p99':>8} {'rr cpu':>8}")
    for (s, workers, count, (f_rps, f50, f99), (r_rps, r50, r99), cpu_us, php_us, h2,
         cpu_h2) in rows:
        print(f"{s:10} {workers:>7} {count:>5} {f_rps:10.0f} {f50:7.2f}ms {f99:7.2f}ms | "
              f"{r_rps:10.0f} "
              f"{r50:7.2f}ms {r99:7.2f}ms {cpu_us:6.1f}us {php_us:6.1f}us | "
              f"{r_rps / f_rps:5.2f}x | "
              f"{h2[0]:10.0f} {h2[1]:7.2f}ms {h2[2]:7.2f}ms {cpu_h2:6.1f}us")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
