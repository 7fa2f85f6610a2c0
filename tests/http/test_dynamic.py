"""The HTTP pool with pool.dynamic_allocator, through `rr serve`: a burst of slow requests
grows the pool to num_workers + max_workers and no further (informer and the worker pids
that answer agree), idle time shrinks it, `rr reset` under a burst fails no request."""

from __future__ import annotations

import re
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from tests.helpers import free_port, rpc, run_cli, wait_for
from tests.http.conftest import ServeFn, Server

POOL = """\
num_workers: 1
dynamic_allocator:
  max_workers: 3
  spawn_rate: 2
  idle_timeout: 1s
"""


def _workers(srv: Server, address: str) -> list[dict[str, object]]:
    return rpc(address, "informer.Workers", "http")["workers"]  # type: ignore[no-any-return]


def _burst(srv: Server, n: int, ms: int) -> list[tuple[int, bytes]]:
    def one(_: int) -> tuple[int, bytes]:
        status, _h, body = srv.request("GET", f"/sleep?ms={ms}", timeout=60)
        return status, body

    with ThreadPoolExecutor(n) as ex:
        return list(ex.map(one, range(n)))


def _total_workers(mport: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=10) as r:
        text = r.read().decode()
    m = re.search(r"^rr_http_total_workers (\S+)$", text, re.MULTILINE)
    assert m, text
    return int(float(m.group(1)))


def test_burst_grows_to_max_and_idle_shrinks(serve: ServeFn) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    mport = free_port()
    srv = serve(pool=POOL, top=f"rpc:\n  listen: {address}\nmetrics:\n"
                               f"  address: 127.0.0.1:{mport}\n")
    assert len(_workers(srv, address)) == 1
    with ThreadPoolExecutor(1) as ex:
        fut = ex.submit(_burst, srv, 12, 1500)
        most = most_metric = most_cli = 0
        while not fut.done():
            most = max(most, len(_workers(srv, address)))
            most_metric = max(most_metric, _total_workers(mport))
            if most_cli < 4:
                cli = run_cli("workers", "http", "-c", str(srv.rr.config_path),
                              cwd=srv.workdir)
                assert cli.returncode == 0, cli.stderr
                rows = re.findall(r"^\|\s*(\d+)\s*\|\s*(\w+)\s*\|", cli.stdout, re.M)
                most_cli = max(most_cli, len(rows))
            time.sleep(0.05)
        replies = fut.result()
    assert [s for s, _ in replies] == [200] * 12
    answering = {body.split()[-1] for _, body in replies}
    assert most == 4 and len(answering) == 4  # 1 + 3 extra, never beyond
    assert most_metric == 4 and most_cli == 4  # /metrics and `rr workers` see them too
    states = {w["statusStr"] for w in _workers(srv, address)}
    assert states <= {"ready", "working"}
    wait_for(lambda: len(_workers(srv, address)) == 1, 30, what="shrink to num_workers")
    status, _, _ = srv.request("GET", "/pid")
    assert status == 200


def test_reset_under_burst_with_dynamic_workers(serve: ServeFn) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    srv = serve(pool=POOL, top=f"rpc:\n  listen: {address}\n")
    with ThreadPoolExecutor(1) as ex:
        fut = ex.submit(_burst, srv, 16, 800)
        wait_for(lambda: len(_workers(srv, address)) >= 3, 30, what="growth")
        before = {w["pid"] for w in _workers(srv, address)}
        assert rpc(address, "resetter.Reset", "http") is True
        replies = fut.result()
    assert [s for s, _ in replies] == [200] * 16
    after = {w["pid"] for w in _workers(srv, address)}
    assert after and not before & after
