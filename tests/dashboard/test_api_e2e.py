"""The dashboard's JSON API against a real `rr serve` with php-cli workers: its data is
what `rr workers`, `rr jobs list` and `/metrics` show, and its actions work only with the
configured credentials and POST."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from rr.dashboard.history import quantile
from tests.dashboard.server import TOKEN, Client, DashboardServer
from tests.helpers import RRProcess, free_port, rpc, run_cli, wait_for

pytestmark = pytest.mark.php


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashboardServer]:
    with DashboardServer(tmp_path_factory.mktemp("dashboard")) as s:
        yield s


def settled(s: DashboardServer) -> bool:
    st = s.stats()
    return st["work"].active == 0 and all(
        w["statusStr"] == "ready"
        for plugin in ("jobs", "http")
        for w in rpc(s.rpc_address, "informer.Workers", plugin)["workers"])


def cli(s: DashboardServer, *args: str) -> str:
    done = run_cli("-c", str(s.rr.config_path), *args, cwd=s.tmp)
    assert done.returncode == 0, done.stderr
    return done.stdout


def table_rows(out: str) -> list[list[str]]:
    rows = [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in out.splitlines() if line.startswith("|")]
    return rows[1:]  # without the header


def test_workers_match_rr_workers(server: DashboardServer) -> None:
    server.hit("/", 3)
    wait_for(lambda: settled(server), 30, what="idle workers")
    api = server.get("/api/workers")
    assert set(api) == {"jobs", "http"}
    for plugin in ("jobs", "http"):
        informer = rpc(server.rpc_address, "informer.Workers", plugin)["workers"]
        keys = ("pid", "numExecs", "statusStr", "created", "status")
        assert [{k: w[k] for k in keys} for w in api[plugin]] == \
            sorted(({k: w[k] for k in keys} for w in informer), key=lambda w: w["pid"])
        for w in api[plugin]:
            assert w["memoryUsage"] > 1_000_000 and w["age"] >= 0 and "CPUPercent" in w
        out = cli(server, "workers", plugin)
        pids = [int(r[0]) for r in table_rows(out) if r and r[0].isdigit()]
        assert pids == [w["pid"] for w in api[plugin]]


def test_pipelines_match_rr_jobs_list_and_metrics(server: DashboardServer) -> None:
    ids = [server.push("ack") for _ in range(5)] + [server.push("nack:bad input")]
    wait_for(lambda: server.stats()["dead"].active == 0 and settled(server)
             and len(server.get("/api/dlq/dead")) >= 1, 30, what="jobs done")
    api = {p["pipeline"]: p for p in server.get("/api/pipelines")}
    rows = {r[0]: r for r in table_rows(cli(server, "jobs", "list")) if r and r[0]}
    assert set(api) == {"work", "dead"} <= set(rows)
    for name, p in api.items():
        pipeline, driver, queue, priority, active, delayed, reserved, status = rows[name][:8]
        assert (p["driver"], p["queue"], str(p["priority"]), str(p["active"]),
                str(p["delayed"]), str(p["reserved"])) == \
            (driver, queue, priority, active, delayed, reserved)
        assert status == ("ready" if p["ready"] else "paused")
    assert api["work"]["dead_letter"] == "dead" and api["dead"]["is_dead_letter"]

    families = {f.name: f for f in text_string_to_metric_families(server.metrics())}
    outcomes: dict[str, dict[str, int]] = {}
    for sample in families["rr_jobs_pipeline_jobs"].samples:
        if sample.name.endswith("_total"):
            outcomes.setdefault(sample.labels["pipeline"], {})[sample.labels["outcome"]] = \
                int(sample.value)
    api = {p["pipeline"]: p for p in server.get("/api/pipelines")}
    assert api["work"]["totals"] == outcomes["work"]
    assert outcomes["work"]["ok"] >= 5 and outcomes["work"]["dead_lettered"] >= 1
    depth = {s.labels["pipeline"]: int(s.value)
             for s in families["rr_jobs_pipeline_queue_depth"].samples}
    assert {n: p["depth"] for n, p in api.items()} == depth
    assert ids[-1] in {j["id"] for j in server.get("/api/dlq/dead")}


def test_http_matches_metrics(server: DashboardServer) -> None:
    server.hit("/", 4)
    server.hit("/status?code=404", 2)
    server.hit("/status?code=503", 1)
    wait_for(lambda: settled(server), 30, what="idle http workers")
    text = server.metrics()
    api = server.get("/api/http")
    families = {f.name: f for f in text_string_to_metric_families(text)}
    totals = {s.labels["status"]: int(s.value) for s in families["rr_http_request"].samples
              if s.name.endswith("_total")}
    assert api["totals"] == totals
    assert api["classes"]["4xx"] == totals["404"] >= 2 and api["classes"]["5xx"] >= 1
    buckets: dict[float, float] = {}
    for s in families["rr_http_request_duration_seconds"].samples:
        if s.name.endswith("_bucket"):
            le = float(s.labels["le"])
            buckets[le] = buckets.get(le, 0.0) + s.value
    assert api["p50"] == pytest.approx(quantile(0.5, buckets))
    assert api["p99"] == pytest.approx(quantile(0.99, buckets))
    assert api["p50"] is not None and 0 < api["p50"] <= api["p99"]
    # requests/s: readings one interval apart see the requests just made
    server.hit("/", 5)
    assert wait_for(lambda: server.get("/api/http")["rate"] > 0, 15, what="a request rate")


def test_cron_entries_and_next_fire_time(server: DashboardServer) -> None:
    entries = server.get("/api/cron")
    assert [e["name"] for e in entries] == ["nightly"]
    assert entries[0]["next_run"].split("T")[1].startswith("03:00:00")
    assert entries == rpc(server.rpc_address, "cron.List", True)


def test_snapshot_and_live_updates(server: DashboardServer) -> None:
    snap = server.get("/api/snapshot")
    assert {"time", "version", "pipelines", "workers", "http", "cron"} <= set(snap)
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        sock.sendall(b"GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n")
        f = sock.makefile("rb")
        assert b"200" in f.readline()
        events: list[dict[str, object]] = []
        while len(events) < 3:
            line = f.readline()
            if line.startswith(b"data: "):
                events.append(json.loads(line[6:]))
        times = [float(e["time"]) for e in events]  # type: ignore[arg-type]
        assert times == sorted(times) and times[-1] - times[0] >= 0.9
        server.push("ack")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = f.readline()
            if line.startswith(b"data: "):
                work = [p for p in json.loads(line[6:])["pipelines"] if p["pipeline"] == "work"]
                if work[0]["throughput"] > 0:
                    break
        else:
            pytest.fail("no live update showed the job")


# -- actions ---------------------------------------------------------------------------------
def test_actions_are_refused_without_auth_with_bad_auth_and_with_get(
        server: DashboardServer) -> None:
    path = "/api/pipelines/work/pause"
    status, _ = server.post(path, auth="")
    assert status == 401
    status, headers, body = server.request(path, "POST", b"{}", {"Authorization": "Bearer no"})
    assert status == 401 and "error" in json.loads(body)
    assert headers["WWW-Authenticate"].startswith("Basic")
    bad = "Basic " + base64.b64encode(b"ops:wrong").decode()
    assert server.request(path, "POST", b"{}", {"Authorization": bad})[0] == 401
    status, headers, _ = server.request(path, "GET", headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 405 and headers["Allow"] == "POST"
    status, _, body = server.request(path, "POST", b"{}", {
        "Authorization": f"Bearer {TOKEN}", "Origin": "http://evil.example"})
    assert status == 403 and b"cross-site" in body
    assert server.stats()["work"].ready  # nothing of that paused it


def test_pause_and_resume(server: DashboardServer) -> None:
    assert server.post("/api/pipelines/work/pause") == (200, {"pipeline": "work",
                                                             "paused": True})
    assert not server.stats()["work"].ready
    status, body = server.post("/api/pipelines/work/pause")
    assert status == 409 and body["error"] == "no active listeners, nothing to pause"
    job = server.push("ack")
    time.sleep(1.5)
    assert job not in (server.tmp / "received.jsonl").read_text()
    assert server.post("/api/pipelines/work/resume", auth="basic")[0] == 200
    assert server.stats()["work"].ready
    wait_for(lambda: job in (server.tmp / "received.jsonl").read_text(), 20, what="the job")
    status, body = server.post("/api/pipelines/nope/pause")
    assert status == 404 and body["error"] == "no such pipeline, requested: nope"


def test_dead_letters_inspect_replay_one_and_all(server: DashboardServer) -> None:
    first, second = server.push("nack:first"), server.push("nack:second")
    wait_for(lambda: {first, second} <= {j["id"] for j in server.get("/api/dlq/dead")}, 30,
             what="dead letters")
    listed = {j["id"]: j for j in server.get("/api/dlq/dead")}
    assert listed[first]["payload"] == "nack:first" and listed[first]["from"] == "work"
    assert listed[first]["headers"]["rr-dead-letter-reason"] == ["first"]
    status, headers, raw = server.request("/api/dlq/dead?limit=1")
    assert status == 200 and len(json.loads(raw)) == 1
    assert int(headers["X-Total-Count"]) == len(listed) >= 2
    for bad in ("0", "abc", "10001"):
        assert server.request(f"/api/dlq/dead?limit={bad}")[0] == 400
    assert server.request("/api/dlq/nope")[0] == 404
    status, body = server.post("/api/dlq/dead/replay", {"id": "no-such-id"})
    assert status == 409 and body["replayed"] == 0 and "no-such-id" in body["failed"][0]
    assert server.post("/api/dlq/dead/replay", [1])[0] == 400
    assert server.post("/api/dlq/dead/replay", auth="")[0] == 401
    assert {first, second} <= {j["id"] for j in server.get("/api/dlq/dead")}
    fixed = server.tmp / "fixed"
    fixed.touch()  # from now on the PHP consumer acks everything
    try:
        status, body = server.post("/api/dlq/dead/replay", {"id": first})
        assert (status, body) == (200, {"replayed": 1, "failed": []})
        wait_for(lambda: server.deliveries(first) == 2, 20, what="the replayed job")
        left = {j["id"] for j in server.get("/api/dlq/dead")}
        assert first not in left and second in left
        status, body = server.post("/api/dlq/dead/replay", auth="basic")  # all of them
        assert status == 200 and body["replayed"] == len(left) and not body["failed"]
        wait_for(lambda: server.deliveries(second) == 2, 20, what="the second job")
        assert server.get("/api/dlq/dead") == []
    finally:
        fixed.unlink()


def test_the_cli_replays_one_dead_letter_by_id_as_the_page_does(
        server: DashboardServer) -> None:
    one, other = server.push("nack:one"), server.push("nack:other")
    wait_for(lambda: {one, other} <= {j["id"] for j in server.get("/api/dlq/dead")}, 30,
             what="dead letters")
    (server.tmp / "fixed").touch()
    try:
        out = cli(server, "jobs", "dlq", "replay", "dead", "--id", one)
        assert "replayed 1 job(s) from dead" in out
        wait_for(lambda: server.deliveries(one) == 2, 20, what="the replayed job")
        assert other in {j["id"] for j in server.get("/api/dlq/dead")}
        done = run_cli("-c", str(server.rr.config_path), "jobs", "dlq", "replay", "dead",
                       "--id", "missing", cwd=server.tmp)
        assert done.returncode == 1 and "missing: not in the dead-letter queue" in done.stderr
        cli(server, "jobs", "dlq", "replay", "dead")
        wait_for(lambda: server.deliveries(other) == 2, 20, what="the other job")
    finally:
        (server.tmp / "fixed").unlink()


def test_reset_replaces_workers_and_a_killed_worker_shows_up_replaced(
        server: DashboardServer) -> None:
    before = [w["pid"] for w in server.get("/api/workers")["jobs"]]
    assert server.post("/api/workers/jobs/reset")[0] == 200
    wait_for(lambda: not set(before) & {w["pid"] for w in server.get("/api/workers")["jobs"]}
             and len(server.get("/api/workers")["jobs"]) == len(before), 30, what="new workers")
    status, body = server.post("/api/workers/nope/reset")
    assert status == 404 and "no such plugin: nope" in body["error"]
    victim = server.get("/api/workers")["http"][0]["pid"]
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: victim not in {w["pid"] for w in server.get("/api/workers")["http"]}
             and len(server.get("/api/workers")["http"]) == 2, 30, what="a replacement")


def test_page_and_static_files_are_served_with_a_strict_policy(
        server: DashboardServer) -> None:
    status, headers, body = server.request("/")
    assert status == 200 and b"dashboard.js" in body
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert b"http://" not in body and b"https://" not in body  # nothing from elsewhere
    for name in ("/dashboard.js", "/dashboard.css"):
        status, _, js = server.request(name)
        assert status == 200 and b"https://" not in js and b"http://cdn" not in js
    assert server.request("/api/nothing")[0] == 404


# -- configurations --------------------------------------------------------------------------
def test_without_credentials_actions_are_disabled(tmp_path: Path) -> None:
    with DashboardServer(tmp_path, "interval: 1s", workers=1) as s:
        assert s.get("/api/pipelines")
        status, body = s.post("/api/pipelines/work/pause")
        assert status == 403 and "dashboard.token" in body["error"]
        assert s.stats()["work"].ready


def test_protected_reads_and_too_many_streams(tmp_path: Path) -> None:
    with DashboardServer(tmp_path, f"token: {TOKEN}\nprotect_reads: true\nmax_streams: 1",
                         workers=1) as s:
        assert s.request("/api/workers")[0] == 401
        assert s.request("/")[0] == 401
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert s.request("/api/workers", headers=auth)[0] == 200
        with socket.create_connection(("127.0.0.1", s.port), timeout=20) as sock:
            sock.sendall(f"GET /api/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                         f"{TOKEN}\r\n\r\n".encode())
            assert b"200" in sock.makefile("rb").readline()
            assert s.request("/api/events", headers=auth)[0] == 503
        # the slot is free again once that client has gone
        def stream_accepted() -> bool:
            with socket.create_connection(("127.0.0.1", s.port), timeout=20) as again:
                again.sendall(f"GET /api/events HTTP/1.1\r\nHost: x\r\nAuthorization: "
                              f"Bearer {TOKEN}\r\n\r\n".encode())
                return b" 200 " in again.makefile("rb").readline()

        wait_for(stream_accepted, 20, what="a free stream slot")


def test_sigterm_with_an_open_stream_stops_promptly(tmp_path: Path) -> None:
    s = DashboardServer(tmp_path, "interval: 1s", workers=1)
    with s:
        sock = socket.create_connection(("127.0.0.1", s.port), timeout=20)
        sock.sendall(b"GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n")
        f = sock.makefile("rb")
        assert b"200" in f.readline()
        wait_for(lambda: f.readline().startswith(b"data: "), 10, what="a first event")
        started = time.monotonic()
        s.rr.signal(signal.SIGTERM)
        assert s.rr.wait(30) == 0
        assert time.monotonic() - started < 15
        sock.close()
    assert "dashboard" in s.rr.output


def test_bad_config_is_named(tmp_path: Path) -> None:
    s = DashboardServer(tmp_path, "user: only-a-user")
    s.rr.start(wait=False)
    assert s.rr.wait(30) == 1
    assert "dashboard.user and dashboard.password" in s.rr.output


def test_without_jobs_and_http_and_with_a_supervised_process(tmp_path: Path) -> None:
    port = free_port()
    with RRProcess(f"""
version: "3"
service:
  sleeper:
    command: "sleep 300"
dashboard:
  address: ":{port}"
""", tmp_path) as rr:
        s = Client(f"http://127.0.0.1:{port}")
        snap = wait_for(lambda: (lambda v: v if v["workers"].get("service") else None)(
            s.get("/api/snapshot")), 20, what="the service process")
        assert (snap["pipelines"], snap["http"], snap["cron"]) == ([], None, None)
        [proc] = snap["workers"]["service"]
        assert proc["command"].endswith("sleep 300") and proc["age"] is None
        assert proc["memoryUsage"] > 0
        status, body = s.post("/api/pipelines/work/pause")
        assert status == 403
    assert "dashboard listening on http://127.0.0.1:" in rr.output
