"""``grpc.processes``: the native gRPC front in several processes sharing the listening
socket, through `rr serve` with real php-cli workers and a grpcio client. Calls spread
over every front, informer / `rr workers grpc` / `/metrics` / status see one server,
`rr reset grpc` under load fails no call, a front killed with SIGKILL is replaced while
the other's calls go on, SIGTERM drains every front."""

from __future__ import annotations

import re
import signal
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import psutil
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from rr.config import Config, Section
from rr.errors import ConfigError
from rr.fronts.config import front_config, processes
from tests.fronts import front_of, front_processes, listed_workers, metrics_text, series_value
from tests.grpc import certs
from tests.grpc.conftest import GrpcServer, ServeFn, config, copy_protos, msg, parse_msg
from tests.helpers import free_port, run_cli, wait_for

FRONTS = "processes: 2\n"
#: grpcio shares one connection among channels to the same target unless told otherwise:
#: a connection of its own per channel lets the kernel hand it to either front
OWN = [("grpc.use_local_subchannel_pool", 1)]


def _top(rpc_address: str, mport: int = 0, sport: int = 0) -> str:
    out = f"rpc:\n  listen: {rpc_address}\n"
    if mport:
        out += f"metrics:\n  address: 127.0.0.1:{mport}\n"
    if sport:
        out += f"status:\n  address: 127.0.0.1:{sport}\n"
    return out


def _fronts(srv: GrpcServer) -> list[psutil.Process]:
    return front_processes(srv.rr, "grpc")


_front_of = front_of


def _workers(address: str) -> list[dict[str, Any]]:
    return listed_workers(address, "grpc")


def _sleep_call(srv: GrpcServer, ms: int) -> int:
    """One Sleep call on a channel of its own (a new connection, so the kernel picks the
    front); the pid of the worker that answered."""
    ch = grpc.insecure_channel(srv.target, options=OWN)
    try:
        body = ch.unary_unary("/rc.test.v1.Test/Sleep")(msg(n=ms), timeout=60)
    finally:
        ch.close()
    return int(parse_msg(body)[0].split()[-1])


def _burst(srv: GrpcServer, n: int, ms: int) -> list[int]:
    with ThreadPoolExecutor(min(n, 16)) as ex:
        return list(ex.map(lambda _: _sleep_call(srv, ms), range(n)))


_metrics = metrics_text
_value = series_value


# -- config ------------------------------------------------------------------------------
@pytest.mark.parametrize("raw", [0, -1, "many", True, 1.5])
def test_processes_rejects_bad_values(raw: object) -> None:
    with pytest.raises(ConfigError, match=r"grpc\.processes"):
        processes(Section({"processes": raw}, "grpc"))


def test_front_config_splits_the_grpc_pool() -> None:
    cfg = Config({"grpc": {"processes": 2, "listen": "tcp://127.0.0.1:9001",
                           "pool": {"num_workers": 3}}, "http": {"pool": {"num_workers": 5}}})
    fronts = [front_config(cfg, 2, i, "grpc") for i in range(2)]
    assert [f["grpc"]["pool"]["num_workers"] for f in fronts] == [2, 1]
    assert [f["grpc"]["processes"] for f in fronts] == [1, 1]
    assert fronts[0]["http"] == {"pool": {"num_workers": 5}}


def _serve_error(tmp_path: Path, grpc_extra: str, pool: str = "num_workers: 2") -> str:
    copy_protos(tmp_path)
    (tmp_path / ".rr.yaml").write_text(config(f"tcp://127.0.0.1:{free_port()}",
                                              rpc_port=free_port(), pool=pool,
                                              grpc_extra=grpc_extra))
    out = run_cli("serve", "-c", str(tmp_path / ".rr.yaml"), cwd=tmp_path, timeout=90)
    assert out.returncode == 1, out.stdout + out.stderr
    return out.stderr


def test_serve_refuses_bad_processes(tmp_path: Path) -> None:
    assert "grpc.processes: expected an integer >= 1, got 0" in _serve_error(
        tmp_path, "processes: 0\n")
    assert "grpc.pool.num_workers: 2 workers cannot be shared by grpc.processes: 3" in \
        _serve_error(tmp_path, "processes: 3\n")
    assert "grpc.processes: several front processes need the native front" in \
        _serve_error(tmp_path, "processes: 2\nserver: grpcio\n")


def test_a_front_whose_workers_cannot_start_fails_the_server_start(tmp_path: Path) -> None:
    (tmp_path / "broken").write_text("")  # the worker refuses to start
    assert "error:" in _serve_error(tmp_path, "processes: 2\n",
                                    pool="num_workers: 2\nallocate_timeout: 5s")


# -- serving -----------------------------------------------------------------------------
def test_calls_spread_over_both_fronts_and_rr_sees_one_server(serve: ServeFn) -> None:
    address, mport, sport = f"tcp://127.0.0.1:{free_port()}", free_port(), free_port()
    srv = serve(grpc_extra=FRONTS, pool="num_workers: 4", top=_top(address, mport, sport))
    fronts = {f.pid for f in _fronts(srv)}
    assert len(fronts) == 2
    pids = {int(w["pid"]) for w in _workers(address)}
    assert len(pids) == 4 and sorted(_front_of(p) for p in pids) == sorted([*fronts] * 2)
    answering = _burst(srv, 60, 20)
    assert set(answering) <= pids and {_front_of(p) for p in answering} == fronts
    cli = run_cli("workers", "grpc", "-c", str(srv.rr.config_path), cwd=srv.workdir)
    assert cli.returncode == 0, cli.stderr
    assert {int(p) for p in re.findall(r"^\|\s*(\d+)\s*\|", cli.stdout, re.M)} == pids
    text = _metrics(mport)
    assert _value(text, 'rr_grpc_request_total{grpc_method="/rc.test.v1.Test/Sleep",'
                        'status_code="OK"}') == 60
    assert _value(text, 'rr_grpc_request_duration_seconds_count{'
                        'grpc_method="/rc.test.v1.Test/Sleep"}') == 60
    assert _value(text, "rr_grpc_requests_queue") == 0
    assert _value(text, "rr_grpc_total_workers") == 4
    assert text.count("# TYPE rr_grpc_request_total counter") == 1
    for path in ("/health", "/ready"):
        with urllib.request.urlopen(f"http://127.0.0.1:{sport}{path}?plugin=grpc") as r:
            assert r.status == 200
    # grpc.health.v1 in every front answers for its own pool
    for _ in range(6):
        ch = grpc.insecure_channel(srv.target, options=OWN)
        reply = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(),
                                                     timeout=10)
        ch.close()
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_reset_under_load_fails_no_call(serve: ServeFn) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    srv = serve(grpc_extra=FRONTS, pool="num_workers: 4", top=_top(address))
    before = {int(w["pid"]) for w in _workers(address)}
    with ThreadPoolExecutor(1) as ex:
        fut = ex.submit(_burst, srv, 80, 30)
        out = run_cli("reset", "grpc", "-c", str(srv.rr.config_path), cwd=srv.workdir)
        assert out.returncode == 0, out.stderr
        assert len(fut.result()) == 80
    after = {int(w["pid"]) for w in _workers(address)}
    assert len(after) == 4 and not after & before


def test_kill_9_of_one_front_is_replaced_and_the_other_serves_on(serve: ServeFn) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    srv = serve(grpc_extra=FRONTS, pool="num_workers: 4", top=_top(address))
    fronts = {f.pid for f in _fronts(srv)}
    # one long-lived channel per front, found by the front that answers on it
    by_front: dict[int, grpc.Channel] = {}
    for _ in range(40):
        ch = srv.channel(options=OWN)
        body = ch.unary_unary("/rc.test.v1.Test/Sleep")(msg(n=1), timeout=30)
        front = _front_of(int(parse_msg(body)[0].split()[-1]))
        if front in by_front:
            ch.close()
        else:
            by_front[front] = ch
        if len(by_front) == 2:
            break
    assert set(by_front) == fronts
    victim, survivor = sorted(fronts)
    psutil.Process(victim).kill()
    psutil.Process(victim).wait(10)
    for _ in range(20):  # the survivor's connection goes on, every call answered there
        body = by_front[survivor].unary_unary("/rc.test.v1.Test/Sleep")(msg(n=1), timeout=30)
        assert _front_of(int(parse_msg(body)[0].split()[-1])) == survivor
    wait_for(lambda: len(_fronts(srv)) == 2 and len(_workers(address)) == 4, 60,
             what="the killed front replaced")
    new = {f.pid for f in _fronts(srv)}
    assert survivor in new and victim not in new
    srv.rr.wait_output("grpc front process exited; starting a new one")
    assert {_front_of(p) for p in _burst(srv, 40, 1)} <= new


def test_sigterm_drains_every_front(serve: ServeFn) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    srv = serve(grpc_extra=FRONTS, pool="num_workers: 4", top=_top(address))
    fronts = {f.pid for f in _fronts(srv)}
    php = {int(w["pid"]) for w in _workers(address)}

    def one(_: int) -> int | None:
        try:
            return _sleep_call(srv, 1500)
        except grpc.RpcError as e:  # after the drain began: refused, never a worker error
            assert e.code() == grpc.StatusCode.UNAVAILABLE, e
            return None

    with ThreadPoolExecutor(8) as ex:
        futs = [ex.submit(one, i) for i in range(8)]
        wait_for(lambda: sum(w["statusStr"] == "working" for w in _workers(address)) == 4,
                 30, what="every worker busy")
        srv.rr.signal(signal.SIGTERM)
        answered = [f.result() for f in futs]
    assert srv.rr.wait(40) == 0, srv.rr.output
    assert sum(p is not None for p in answered) >= 4
    assert not [p for p in php | fronts if psutil.pid_exists(p)
                and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]


def test_unix_listener_is_shared_and_removed_at_stop(serve: ServeFn, tmp_path: Path) -> None:
    path = tmp_path / "grpc.sock"
    srv = serve(grpc_extra=FRONTS, pool="num_workers: 2", listen=f"unix://{path}")
    fronts = {f.pid for f in _fronts(srv)}
    assert len(fronts) == 2
    assert {_front_of(p) for p in _burst(srv, 30, 20)} <= fronts
    srv.rr.stop()
    assert not path.exists()


def test_one_process_keeps_the_single_process_path(serve: ServeFn) -> None:
    srv = serve(grpc_extra="processes: 1\n", pool="num_workers: 1")
    assert _fronts(srv) == []
    assert srv.rr.proc is not None and _front_of(_sleep_call(srv, 1)) == srv.rr.proc.pid


def test_tls_is_served_by_every_front(serve: ServeFn, tmp_path: Path) -> None:
    c = certs.make(tmp_path)
    srv = serve(grpc_extra=FRONTS + f"tls:\n  key: {c.server_key}\n  cert: {c.server_cert}\n",
                pool="num_workers: 2")
    fronts = {f.pid for f in _fronts(srv)}
    creds = grpc.ssl_channel_credentials(root_certificates=c.ca.read_bytes())
    seen: set[int] = set()
    for _ in range(40):
        ch = grpc.secure_channel(srv.target, creds, options=[
            *OWN, ("grpc.ssl_target_name_override", "localhost")])
        body = ch.unary_unary("/rc.test.v1.Test/Sleep")(msg(n=1), timeout=30)
        ch.close()
        seen.add(_front_of(int(parse_msg(body)[0].split()[-1])))
        if seen == fronts:
            break
    assert seen == fronts
