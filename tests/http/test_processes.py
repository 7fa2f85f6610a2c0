"""``http.processes``: the HTTP front in several processes sharing the listening socket,
through `rr serve` with real php-cli workers. Requests spread over every front,
informer / `rr workers` / `/metrics` / status see one server, `rr reset` under load fails
no request, a front killed with SIGKILL loses only its own connections and is replaced,
SIGTERM drains every front."""

from __future__ import annotations

import http.client
import re
import signal
import subprocess
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import pytest

from rr.config import Config, Section
from rr.errors import ConfigError
from rr.fronts.config import front_config, processes, share
from rr.metrics.samples import merge
from tests.fronts import front_of, front_processes, listed_workers, metrics_text, series_value
from tests.helpers import RRProcess, free_port, php_worker, rpc, run_cli, wait_for
from tests.http.conftest import ServeFn, Server
from tests.http.test_middleware import _self_signed

FRONTS = "processes: 2\nmiddleware: [http_metrics]\n"


def _top(rpc_address: str, mport: int) -> str:
    return f"rpc:\n  listen: {rpc_address}\nmetrics:\n  address: 127.0.0.1:{mport}\n"


def _fronts(srv: Server) -> list[psutil.Process]:
    return front_processes(srv.rr, "http")


_front_of = front_of


def _workers(address: str) -> list[dict[str, Any]]:
    return listed_workers(address, "http")


def _burst(srv: Server, n: int, path: str) -> list[tuple[int, bytes]]:
    def one(_: int) -> tuple[int, bytes]:
        status, _h, body = srv.request("GET", path, timeout=60)
        return status, body

    with ThreadPoolExecutor(min(n, 32)) as ex:
        return list(ex.map(one, range(n)))


_metrics = metrics_text
_value = series_value


# -- config ------------------------------------------------------------------------------
@pytest.mark.parametrize("raw", [0, -1, "two", True, 1.5, [2]])
def test_processes_rejects_bad_values(raw: object) -> None:
    with pytest.raises(ConfigError, match=r"http\.processes"):
        processes(Section({"processes": raw}, "http"))


def test_processes_default_and_shares() -> None:
    assert processes(Section({}, "http")) == 1
    assert processes(Section({"processes": "3"}, "http")) == 3
    assert [share(5, 2, i) for i in range(2)] == [3, 2]
    assert [share(4, 3, i) for i in range(3)] == [2, 1, 1]


def test_front_config_splits_workers_and_dynamic_allocator() -> None:
    cfg = Config({"http": {"processes": 2, "pool": {
        "num_workers": 5, "max_jobs": 7, "dynamic_allocator": {"max_workers": 3}}}})
    fronts = [front_config(cfg, 2, i)["http"] for i in range(2)]
    assert [f["processes"] for f in fronts] == [1, 1]
    assert [f["pool"]["num_workers"] for f in fronts] == [3, 2]
    assert [f["pool"]["dynamic_allocator"]["max_workers"] for f in fronts] == [2, 1]
    assert [f["pool"]["max_jobs"] for f in fronts] == [7, 7]
    one_extra = Config({"http": {"pool": {"num_workers": 2,
                                          "dynamic_allocator": {"max_workers": 1}}}})
    second = front_config(one_extra, 2, 1)["http"]["pool"]
    assert "dynamic_allocator" not in second and second["num_workers"] == 1
    assert cfg.raw("http.pool.num_workers") == 5  # the main config is left as it was


def test_merge_sums_counters_and_histograms_keeps_the_largest_uptime() -> None:
    def fam(n: float, uptime: float) -> list[dict[str, Any]]:
        return [{"name": "rr_http_request", "type": "counter", "help": "h",
                 "samples": [["rr_http_request_total", {"status": "200"}, n]]},
                {"name": "rr_http_request_duration_seconds", "type": "histogram", "help": "h",
                 "samples": [["rr_http_request_duration_seconds_bucket",
                              {"status": "200", "le": "+Inf"}, n]]},
                {"name": "rr_http_uptime_seconds", "type": "gauge", "help": "h",
                 "samples": [["rr_http_uptime_seconds", {}, uptime]]}]

    extra = [{"name": "rr_http_request", "type": "counter", "help": "h",
              "samples": [["rr_http_request_total", {"status": "404"}, 1.0]]}]
    out = {m.name: {(s.name, tuple(sorted(s.labels.items()))): s.value for s in m.samples}
           for m in merge([fam(3, 10.0), fam(4, 2.0), extra])}
    assert out["rr_http_request"] == {("rr_http_request_total", (("status", "200"),)): 7,
                                      ("rr_http_request_total", (("status", "404"),)): 1}
    assert list(out["rr_http_request_duration_seconds"].values()) == [7]
    assert list(out["rr_http_uptime_seconds"].values()) == [10.0]


def _serve_error(tmp_path: Path, http_extra: str, pool: str = "num_workers: 2") -> str:
    cfg = (f'version: "3"\nserver:\n  command: "{php_worker("http_app.php")}"\n'
           f"http:\n  address: 127.0.0.1:{free_port()}\n{http_extra}  pool:\n    {pool}\n")
    (tmp_path / ".rr.yaml").write_text(cfg)
    out = run_cli("serve", "-c", str(tmp_path / ".rr.yaml"), cwd=tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    return out.stdout + out.stderr


def test_serve_refuses_bad_processes(tmp_path: Path) -> None:
    assert "http.processes: expected an integer >= 1, got 0" in _serve_error(
        tmp_path, "  processes: 0\n")
    assert "http.processes" in _serve_error(tmp_path, "  processes: many\n")
    assert "http.pool.num_workers: 2 workers cannot be shared by http.processes: 3" in \
        _serve_error(tmp_path, "  processes: 3\n")


def test_a_front_that_cannot_start_fails_the_server_start(tmp_path: Path) -> None:
    cfg = ('version: "3"\nserver:\n  command: "php -r exit(3);"\n'
           f"http:\n  address: 127.0.0.1:{free_port()}\n  processes: 2\n"
           "  pool:\n    num_workers: 2\n    allocate_timeout: 5s\n")
    (tmp_path / ".rr.yaml").write_text(cfg)
    out = run_cli("serve", "-c", str(tmp_path / ".rr.yaml"), cwd=tmp_path, timeout=90)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "error:" in out.stderr


# -- serving -----------------------------------------------------------------------------
def test_requests_spread_over_every_front_and_informer_sees_all_workers(
        serve: ServeFn) -> None:
    address, mport = f"tcp://127.0.0.1:{free_port()}", free_port()
    srv = serve(FRONTS, pool="num_workers: 4", top=_top(address, mport))
    fronts = _fronts(srv)
    assert len(fronts) == 2
    workers = _workers(address)
    assert len(workers) == 4
    pids = {int(w["pid"]) for w in workers}
    # two workers a front, each a child of its front
    assert sorted(_front_of(p) for p in pids) == sorted([f.pid for f in fronts] * 2)
    replies = _burst(srv, 80, "/sleep?ms=20")
    assert {s for s, _ in replies} == {200}
    answering = {int(body.split()[-1]) for _, body in replies}
    assert answering <= pids
    assert {_front_of(p) for p in answering} == {f.pid for f in fronts}
    cli = run_cli("workers", "http", "-c", str(srv.rr.config_path), cwd=srv.workdir)
    assert cli.returncode == 0, cli.stderr
    assert {int(p) for p in re.findall(r"^\|\s*(\d+)\s*\|", cli.stdout, re.M)} == pids
    assert rpc(address, "informer.List", True).count("http") == 1


def test_metrics_are_the_sum_over_fronts(serve: ServeFn) -> None:
    address, mport = f"tcp://127.0.0.1:{free_port()}", free_port()
    srv = serve(FRONTS, pool="num_workers: 4", top=_top(address, mport))
    ok = _burst(srv, 60, "/pid")
    missing = _burst(srv, 7, "/status?code=404")
    assert [s for s, _ in ok] == [200] * 60 and [s for s, _ in missing] == [404] * 7
    text = _metrics(mport)
    assert _value(text, 'rr_http_request_total{status="200"}') == 60
    assert _value(text, 'rr_http_request_total{status="404"}') == 7
    assert _value(text, 'rr_http_request_duration_seconds_count{status="200"}') == 60
    assert _value(text, "rr_http_total_workers") == 4
    assert _value(text, "rr_http_workers_ready") == 4
    assert text.count("# TYPE rr_http_request_total counter") == 1


def test_status_and_add_remove_worker(serve: ServeFn) -> None:
    address, sport = f"tcp://127.0.0.1:{free_port()}", free_port()
    srv = serve(FRONTS, pool="num_workers: 2",
                top=f"rpc:\n  listen: {address}\nstatus:\n  address: 127.0.0.1:{sport}\n")
    for path in ("/health", "/ready"):
        with urllib.request.urlopen(f"http://127.0.0.1:{sport}{path}?plugin=http") as r:
            assert r.status == 200
    rpc(address, "informer.AddWorker", "http")
    assert len(_workers(address)) == 3
    rpc(address, "informer.RemoveWorker", "http")
    rpc(address, "informer.RemoveWorker", "http")
    # every front keeps its last worker
    assert len(_workers(address)) == 2
    assert len({_front_of(int(w["pid"])) for w in _workers(address)}) == 2
    assert srv.request("GET", "/pid")[0] == 200


def test_reset_under_load_fails_no_request(serve: ServeFn) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    srv = serve(FRONTS, pool="num_workers: 4", top=f"rpc:\n  listen: {address}\n")
    before = {int(w["pid"]) for w in _workers(address)}
    with ThreadPoolExecutor(1) as ex:
        fut = ex.submit(_burst, srv, 120, "/sleep?ms=30")
        out = run_cli("reset", "http", "-c", str(srv.rr.config_path), cwd=srv.workdir)
        assert out.returncode == 0, out.stderr
        replies = fut.result()
    assert [s for s, _ in replies] == [200] * 120
    after = {int(w["pid"]) for w in _workers(address)}
    assert len(after) == 4 and not after & before
    assert srv.request("GET", "/pid")[0] == 200


def _connections_on_both(srv: Server, fronts: set[int]
                         ) -> dict[int, list[http.client.HTTPConnection]]:
    """Keep-alive connections, each with one answered request, until both fronts hold
    some; by the front that answered."""
    by_front: dict[int, list[http.client.HTTPConnection]] = {f: [] for f in fronts}
    for _ in range(20):
        conns = [http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
                 for _ in range(8)]
        for c in conns:
            c.connect()
        for c in conns:
            c.request("GET", "/pid")
        for c in conns:
            resp = c.getresponse()
            assert resp.status == 200
            by_front[_front_of(int(resp.read()))].append(c)
        if all(by_front.values()):
            return by_front
    raise AssertionError(f"connections never reached both fronts: {by_front}")


def test_kill_9_of_one_front_drops_only_its_connections_and_it_is_replaced(
        serve: ServeFn) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    srv = serve(FRONTS, pool="num_workers: 4", top=f"rpc:\n  listen: {address}\n")
    fronts = {f.pid for f in _fronts(srv)}
    by_front = _connections_on_both(srv, fronts)
    victim, survivor = sorted(fronts)
    psutil.Process(victim).kill()
    psutil.Process(victim).wait(10)
    for c in by_front[victim]:
        with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
            c.request("GET", "/pid")
            c.getresponse().read()
    for c in by_front[survivor]:  # the same keep-alive connections go on
        c.request("GET", "/pid")
        resp = c.getresponse()
        assert resp.status == 200 and _front_of(int(resp.read())) == survivor
    wait_for(lambda: len(_fronts(srv)) == 2 and len(_workers(address)) == 4, 60,
             what="the killed front replaced")
    new = {f.pid for f in _fronts(srv)}
    assert survivor in new and victim not in new
    assert {_front_of(int(w["pid"])) for w in _workers(address)} == new
    srv.rr.wait_output("http front process exited; starting a new one")
    assert {s for s, _ in _burst(srv, 40, "/pid")} == {200}


def test_sigterm_drains_every_front(serve: ServeFn) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    srv = serve(FRONTS, pool="num_workers: 4", top=f"rpc:\n  listen: {address}\n")
    fronts = {f.pid for f in _fronts(srv)}
    front_of = {int(w["pid"]): _front_of(int(w["pid"])) for w in _workers(address)}
    php = set(front_of)
    with ThreadPoolExecutor(1) as ex:
        fut = ex.submit(_burst, srv, 12, "/sleep?ms=1500")
        wait_for(lambda: sum(w["statusStr"] == "working" for w in _workers(address)) == 4,
                 30, what="every worker busy")
        srv.rr.signal(signal.SIGTERM)
        replies = fut.result()
    assert srv.rr.wait(40) == 0, srv.rr.output
    served = [s for s, _ in replies]
    # the requests already with a worker (4, on both fronts) finish; the rest finish too
    # or find the listener closed, never a 5xx
    assert served.count(200) >= 4 and set(served) <= {200}, served
    assert {front_of[int(b.split()[-1])] for s, b in replies if s == 200} == fronts
    assert not [p for p in php | fronts if psutil.pid_exists(p)
                and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]


def test_tls_listener_is_served_by_the_fronts(serve: ServeFn, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    ssl_port = free_port()
    srv = serve(FRONTS + f"ssl:\n  address: 127.0.0.1:{ssl_port}\n  cert: {cert}\n"
                f"  key: {key}\n", pool="num_workers: 2")
    out = subprocess.run(["curl", "-sk", "--http2", "-w", " %{http_version}",
                          f"https://127.0.0.1:{ssl_port}/pid"],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    pid, version = out.split()
    assert version == "2" and _front_of(int(pid)) in {f.pid for f in _fronts(srv)}
    assert srv.request("GET", "/pid")[0] == 200


def test_one_process_keeps_the_single_process_path(serve: ServeFn) -> None:
    srv = serve("processes: 1\n", pool="num_workers: 2")
    assert _fronts(srv) == []
    status, _, body = srv.request("GET", "/pid")
    assert status == 200
    assert srv.rr.proc is not None and _front_of(int(body)) == srv.rr.proc.pid


def test_rr_killed_takes_its_fronts_along(tmp_path: Path) -> None:
    cfg = ('version: "3"\nserver:\n  command: "' + php_worker("http_app.php") + '"\n'
           f"http:\n  address: 127.0.0.1:{free_port()}\n  processes: 2\n"
           "  pool:\n    num_workers: 2\n")
    rr = RRProcess(cfg, tmp_path).start()
    try:
        assert rr.proc is not None
        fronts = [p for p in psutil.Process(rr.proc.pid).children()
                  if "rr.http.frontchild" in " ".join(p.cmdline())]
        assert len(fronts) == 2
        rr.proc.kill()  # rr only, not its session
        rr.proc.wait(10)
        gone, alive = psutil.wait_procs(fronts, timeout=30)
        assert not alive
    finally:
        rr.kill()
