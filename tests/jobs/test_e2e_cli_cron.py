"""`rr jobs` / `rr cron` commands, dead letters and cron firing against a real server."""

from __future__ import annotations

import time
from pathlib import Path

from tests.helpers import run_cli, wait_for
from tests.jobs.e2e import JobsServer

PIPES = """
consume: [a, b]
pipelines:
  a:
    driver: memory
    config:
      priority: 3
  b:
    driver: memory
    config: {}
"""


def cli(s: JobsServer, *args: str) -> tuple[int, str, str]:
    r = run_cli(*args, "-c", str(s.rr.config_path), cwd=s.tmp)
    return r.returncode, r.stdout, r.stderr


def test_jobs_commands(tmp_path: Path) -> None:
    with JobsServer(tmp_path, PIPES) as s:
        code, out, err = cli(s, "jobs", "list")
        assert code == 0, err
        rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[1:-1]]
                for line in out.splitlines() if line.startswith("| ") and "PIPELINE" not in line}
        assert rows["a"] == ["a", "memory", "a", "3", "0", "0", "0", "ready"]
        assert rows["b"][7] == "ready"

        code, out, _ = cli(s, "jobs", "pause", "a,b")
        assert code == 0 and "PIPELINE(S)" in out and "| a " in out and "| b " in out
        assert {p: st.ready for p, st in s.stats().items()} == {"a": False, "b": False}
        code, _, err = cli(s, "jobs", "pause", "a")
        assert code == 1 and "no active listeners, nothing to pause" in err
        code, out, _ = cli(s, "jobs", "--resume", "a", "-s")
        assert code == 0 and out == ""
        code, out, _ = cli(s, "jobs", "resume", "b")
        assert code == 0
        code, _, err = cli(s, "jobs", "resume", "b")
        assert code == 1 and "memory listener is already in the active state" in err
        code, out, _ = cli(s, "jobs", "stat")
        assert code == 0 and '"pipeline": "a"' in out

        code, out, _ = cli(s, "jobs", "--destroy", "b")
        assert code == 0 and "| b " in out
        code, _, err = cli(s, "jobs", "destroy", "b")
        assert code == 1 and "no such pipeline, requested: b" in err
        code, out, _ = cli(s, "jobs", "--list")
        assert code == 0 and "| a " in out and "| b " not in out
        code, _, err = cli(s, "jobs")
        assert code == 1 and "usage" in err


DLQ = """
consume: [work]
pipelines:
  work:
    driver: memory
    config:
      retry:
        max_attempts: 3
        delay: 0
      dead_letter: dead
  dead:
    driver: memory
    config: {}
"""


def test_retries_dead_letter_and_replay(tmp_path: Path) -> None:
    marker = tmp_path / "fixed"
    with JobsServer(tmp_path, DLQ) as s:
        crash = s.push("work", "crash", id="crash")
        error = s.push("work", "error:db down", id="error")
        redeliver = s.push("work", "redeliver:again", id="redeliver")
        nack = s.push("work", "nack:invalid", id="nack")
        ok = s.push("work", "crash-until:2", id="flaky")
        wait_for(lambda: s.stats()["dead"].active == 0 and len(s.received()) >= 12
                 and s.stats()["work"].active == 0, 30, what="retries")
        time.sleep(0.3)
        counts = s.counts()
        assert counts == {crash: 3, error: 3, redeliver: 3, nack: 1, ok: 2}
        attempts = [r["headers"].get("rr-attempt") for r in s.received() if r["id"] == crash]
        assert attempts == [None, ["2"], ["3"]]

        code, out, err = cli(s, "jobs", "dlq", "list", "dead")
        assert code == 0, err
        listed = {line.split("|")[1].strip() for line in out.splitlines()
                  if line.startswith("| ") and "ID" not in line}
        assert listed == {"crash", "error", "redeliver", "nack"}
        assert "attempts exhausted (3)" in out and "invalid" in out

        # replay after the "fix": everything goes back to work and succeeds at once
        marker.touch()
        code, out, err = cli(s, "jobs", "dlq", "replay", "dead", "--to", "work")
        assert code == 0 and "replayed 4 job(s)" in out, err
        wait_for(lambda: len(s.received()) >= 16, 30, what="replayed deliveries")
        replayed = s.received()[12:]
        assert sorted(r["id"] for r in replayed) == sorted(["crash", "error", "redeliver",
                                                            "nack"])
        # the dead-letter bookkeeping headers are gone, the attempt count restarts
        assert all("rr-attempt" not in r["headers"] and
                   "rr-dead-letter-from" not in r["headers"] for r in replayed)
        code, _, err = cli(s, "jobs", "dlq", "list", "nope")
        assert code == 1 and "no such pipeline, requested: nope" in err


CRON = """
consume: [ticks]
pipelines:
  ticks:
    driver: memory
    config: {}
"""


def test_cron_fires_on_seconds_schedule(tmp_path: Path) -> None:
    extra = """
    cron:
      timezone: UTC
      jobs:
        tick:
          schedule: "* * * * * *"
          pipeline: ticks
          job: App\\Jobs\\Tick
          payload: ack
          headers: {source: [cron]}
        slow:
          schedule: "* * * * * *"
          pipeline: ticks
          job: App\\Jobs\\Slow
          payload: "sleep:3500"
          overlap: skip
    """
    with JobsServer(tmp_path, CRON, workers=2, extra=extra) as s:
        wait_for(lambda: sum(r["job"] == "App\\Jobs\\Tick" for r in s.received()) >= 3, 30,
                 what="3 cron ticks")
        tick = next(r for r in s.received() if r["job"] == "App\\Jobs\\Tick")
        assert tick["headers"] == {"source": ["cron"], "rr-cron": ["tick"]}
        assert tick["payload"] == "ack" and tick["pipeline"] == "ticks"
        code, out, err = cli(s, "cron", "list")
        assert code == 0, err
        assert "| tick " in out and "| slow " in out and "+00:00" in out
        # the slow entry fires every second but its job runs 3.5 s: overlap=skip
        wait_for(lambda: "| slow " in cli(s, "cron", "list")[1] and
                 sum(r["job"] == "App\\Jobs\\Slow" for r in s.received()) >= 2, 30,
                 what="2 slow runs")
        slow_runs = [r for r in s.received() if r["job"] == "App\\Jobs\\Slow"]
        assert slow_runs[1]["t"] - slow_runs[0]["t"] >= 3.0  # never two at once
        code, out, _ = cli(s, "jobs", "list")
        assert "Cron entries:" in out and "| tick " in out
