"""The service plugin end to end: real rr, real processes, the service.* RPC."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rr.goridge.rpc import RPCClient, RPCClientError
from rr.service.proto import service_pb2 as pb
from tests.helpers import PHP_FIXTURES, RRProcess, free_port, rpc, run_cli, wait_for
from tests.tcp.conftest import alive

pytestmark = pytest.mark.php
LOOP = PHP_FIXTURES / "service_loop.php"


_started: list[RRProcess] = []


@pytest.fixture(autouse=True)
def _stop_started() -> Iterator[None]:
    """Every rr a test started is stopped (then killed) however the test ended."""
    yield
    while _started:
        rr = _started.pop()
        try:
            rr.stop()
        finally:
            rr.kill()


def start(tmp_path: Path, services: str, env: dict[str, str] | None = None,
          wait: bool = True) -> tuple[RRProcess, str]:
    address = f"127.0.0.1:{free_port()}"
    config = f'version: "3"\nrpc:\n  listen: tcp://{address}\nservice:\n{services}'
    rr = RRProcess(config, tmp_path, env=env)
    _started.append(rr)
    return rr.start(wait=wait), address


def starts(path: Path) -> list[tuple[int, float]]:
    if not path.exists():
        return []
    return [(int(p), float(t)) for p, t in (ln.split() for ln in path.read_text().splitlines())]


def call(address: str, method: str, request: object, reply: type) -> object:
    with RPCClient(address) as c:
        return c.call_proto(method, request, reply)


def service_pids(address: str) -> list[int]:
    return sorted(w["pid"] for w in rpc(address, "informer.Workers", "service")["workers"])


def test_processes_started_logged_and_listed(tmp_path: Path) -> None:
    rr, address = start(tmp_path, f"""\
  loop:
    command: "php {LOOP}"
    process_num: 2
    service_name_in_log: true
    env:
      foo: "bar-$HOME"
  sleeper:
    command: "sleep 300"
""", env={"SVC_NAME": "loop"})
    rr.wait_output("service loop up, foo=bar-" + os.environ["HOME"])
    assert "\tservice.loop\tservice loop up" in rr.output  # named logger
    assert '"name":"sleeper","command":"sleep 300"' in rr.output
    workers = rpc(address, "informer.Workers", "service")["workers"]
    assert len(workers) == 3 and all(alive(w["pid"]) for w in workers)
    commands = sorted(w["command"] for w in workers)
    assert commands[-1].endswith("/sleep 300") and commands[-1].startswith("/")
    assert all(w["status"] == 1 and w["memoryUsage"] > 0 for w in workers)
    res = run_cli("workers", "service", "-c", str(rr.config_path), cwd=tmp_path)
    assert res.returncode == 0 and "COMMAND" in res.stdout and "sleep 300" in res.stdout
    with pytest.raises(RPCClientError, match="does not support workers management"):
        rpc(address, "informer.AddWorker", "service")


def test_crash_is_restarted_after_restart_sec(tmp_path: Path) -> None:
    log = tmp_path / "starts"
    rr, _ = start(tmp_path, f"""\
  crasher:
    command: "php {LOOP}"
    remain_after_exit: true
    restart_sec: 1
""", env={"SVC_STARTS": str(log), "SVC_MODE": "crash"})
    wait_for(lambda: len(starts(log)) >= 3, 30, what="two restarts")
    seen = starts(log)
    assert len({pid for pid, _ in seen}) == len(seen)  # a new process each time
    gaps = [b - a for (_, a), (_, b) in zip(seen, seen[1:], strict=False)]
    assert min(gaps) >= 0.9  # restart_sec is honoured (a lower bound only)
    assert '"name":"crasher","error":"exit status 1"' in rr.output


def test_not_restarted_without_remain_after_exit(tmp_path: Path) -> None:
    log = tmp_path / "starts"
    rr, address = start(tmp_path, f"""\
  once:
    command: "php {LOOP}"
    restart_sec: 1
""", env={"SVC_STARTS": str(log), "SVC_MODE": "crash"})
    rr.wait_output('"name":"once","error":"exit status 1"')
    time.sleep(2.5)
    assert len(starts(log)) == 1
    reply = call(address, "service.Statuses", pb.Service(name="once"), pb.Statuses)
    assert isinstance(reply, pb.Statuses) and len(reply.status) == 1
    st = reply.status[0]
    assert st.pid == starts(log)[0][0] and "is not running" in st.status.message
    assert rpc(address, "informer.Workers", "service")["workers"] == []


def test_exec_timeout_kills_and_restarts(tmp_path: Path) -> None:
    log = tmp_path / "starts"
    rr, _ = start(tmp_path, f"""\
  ticker:
    command: "php {LOOP}"
    exec_timeout: 1s
    remain_after_exit: true
    restart_sec: 1
""", env={"SVC_STARTS": str(log)})
    wait_for(lambda: len(starts(log)) >= 2, 30, what="a restart after exec_timeout")
    assert '"name":"ticker","error":"signal: killed"' in rr.output


def test_sigterm_stops_everything_and_leaves_no_orphans(tmp_path: Path) -> None:
    log, children = tmp_path / "starts", tmp_path / "children"
    # `env MODE=… php` execs php in place: the service pid is the php pid
    rr, address = start(tmp_path, f"""\
  polite:
    command: "env SVC_MODE=loop php {LOOP}"
    process_num: 2
  stubborn:
    command: "env SVC_MODE=stubborn php {LOOP}"
    timeout_stop_sec: 1
  forker:
    command: "env SVC_MODE=forker php {LOOP}"
""", env={"SVC_STARTS": str(log), "SVC_CHILDREN": str(children)})
    wait_for(lambda: len(service_pids(address)) == 4 and children.exists(), 30,
             what="four services and the forked child")
    pids = service_pids(address) + [int(p) for p in children.read_text().split()]
    assert all(alive(p) for p in pids)
    rr.signal(signal.SIGTERM)
    assert rr.wait(60) == 0
    wait_for(lambda: not [p for p in pids if alive(p)], 10, what="every process gone")
    out = rr.output
    assert out.count("service was stopped") == 4
    assert "got SIGINT" in out  # polite ones were asked with SIGINT first
    assert '"name":"stubborn","error":"signal: killed"' in out


def test_rpc_create_statuses_restart_terminate(tmp_path: Path) -> None:
    rr, address = start(tmp_path, "  base:\n    command: \"sleep 300\"\n")
    create = pb.Create(name="made", command="sleep 301", process_num=2, restart_sec=1,
                       env={"foo": "x"})
    assert call(address, "service.Create", create, pb.Response) == pb.Response(ok=True)
    listed = call(address, "service.List", pb.Service(), pb.List)
    assert isinstance(listed, pb.List) and sorted(listed.services) == ["base", "made"]
    st = call(address, "service.Statuses", pb.Service(name="made"), pb.Statuses)
    assert isinstance(st, pb.Statuses)
    first = [s.pid for s in st.status]
    assert len(first) == 2 and all(alive(p) for p in first)
    assert all(s.command.endswith("/sleep 301") and s.memory_usage > 0 for s in st.status)
    last = call(address, "service.Status", pb.Service(name="made"), pb.Status)
    assert isinstance(last, pb.Status) and last.pid == first[-1]

    assert call(address, "service.Restart", pb.Service(name="made"), pb.Response).ok
    st = call(address, "service.Statuses", pb.Service(name="made"), pb.Statuses)
    assert isinstance(st, pb.Statuses)
    second = [s.pid for s in st.status]
    assert not set(first) & set(second) and not [p for p in first if alive(p)]

    assert call(address, "service.Terminate", pb.Service(name="made"), pb.Response).ok
    wait_for(lambda: not [p for p in second if alive(p)], 10, what="terminated")
    listed = call(address, "service.List", pb.Service(), pb.List)
    assert isinstance(listed, pb.List) and list(listed.services) == ["base"]


@pytest.mark.parametrize(("request_", "text"), [
    (pb.Create(name="base", command="sleep 1", process_num=1), "already exists"),
    (pb.Create(name="z", command="sleep 1", process_num=0), "should have at least 1 process"),
    (pb.Create(name="z", command="sleep 1", process_num=-3), "should have at least 1 process"),
    (pb.Create(name="z", command="no-such-cmd-xyz", process_num=2),
     'exec: "no-such-cmd-xyz": executable file not found in $PATH'),
    (pb.Create(name="z", command="", process_num=1), "exec: no command"),
])
def test_rpc_create_errors(tmp_path: Path, request_: pb.Create, text: str) -> None:
    rr, address = start(tmp_path, "  base:\n    command: \"sleep 300\"\n")
    with pytest.raises(RPCClientError, match=text.replace("$", r"\$")):
        call(address, "service.Create", request_, pb.Response)
    listed = call(address, "service.List", pb.Service(), pb.List)
    assert isinstance(listed, pb.List) and list(listed.services) == ["base"]
    for method in ("Terminate", "Restart", "Statuses"):
        with pytest.raises(RPCClientError, match="the service with nope name doesn't exist"):
            call(address, f"service.{method}", pb.Service(name="nope"), pb.Response)


def test_command_that_does_not_exist_fails_the_start(tmp_path: Path) -> None:
    rr, _ = start(tmp_path, "  ok:\n    command: \"sleep 300\"\n"
                            "  bad:\n    command: \"/no/such/binary --flag\"\n", wait=False)
    assert rr.wait(30) == 1
    assert "service.bad: fork/exec /no/such/binary: no such file or directory" in rr.output
    # the service that did start was stopped again, once: no retry loop
    assert rr.output.count("service was started") == 1
    assert rr.output.count("service was stopped") == 1


def test_reset_replaces_every_process(tmp_path: Path) -> None:
    rr, address = start(tmp_path, "  a:\n    command: \"sleep 300\"\n    process_num: 2\n")
    wait_for(lambda: len(service_pids(address)) == 2, 20, what="two processes")
    before = service_pids(address)
    res = run_cli("reset", "service", "-c", str(rr.config_path), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    after = service_pids(address)
    assert len(after) == 2 and not set(before) & set(after)
    assert not [p for p in before if alive(p)]


def test_php_manager_drives_every_method(tmp_path: Path) -> None:
    import json
    import subprocess

    rr, address = start(tmp_path, "  base:\n    command: \"sleep 300\"\n")
    res = subprocess.run(["php", str(PHP_FIXTURES / "service_client.php")],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "RR_RPC": f"tcp://{address}"})
    assert res.returncode == 0, res.stderr + res.stdout
    out = json.loads(res.stdout)
    assert out["create"] is True and sorted(out["list"]) == ["base", "php-made"]
    first, second = out["statuses"], out["statuses_after"]
    assert len(first) == 2 and all(s["error"] is None and s["memory_usage"] > 0
                                   and s["command"].endswith("/sleep 302") for s in first)
    assert out["restart"] is True
    assert not {s["pid"] for s in first} & {s["pid"] for s in second}
    assert out["terminate"] is True and out["list_after"] == ["base"]
    assert not [s["pid"] for s in first + second if alive(s["pid"])]
    assert "the service with base name already exists" in out["dup"]
    assert 'exec: "no-such-binary-here": executable file not found in $PATH' in out["missing"]
    assert "the service with ghost name doesn't exist" in out["unknown"]


def test_user_option_and_an_unknown_user(tmp_path: Path) -> None:
    import pwd

    nobody = pwd.getpwnam("nobody").pw_uid
    rr, _ = start(tmp_path, "  who:\n    command: \"id -u\"\n    user: nobody\n")
    rr.wait_output(f"\tservice\t{nobody}\n")
    rr, _ = start(tmp_path, "  who:\n    command: \"id -u\"\n    user: no-such-user-x\n",
                  wait=False)
    assert rr.wait(30) == 1
    assert "service.who: no such user: no-such-user-x" in rr.output
