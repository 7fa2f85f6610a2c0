"""php/examples/lock_and_log.php: two copies at once take turns on one resource, and
their lines reach rr's log in channel `app`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.helpers import PHP_DIR, RRProcess, free_port, wait_for

SCRIPT = PHP_DIR / "examples" / "lock_and_log.php"


def test_two_copies_take_turns(tmp_path: Path) -> None:
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    rr = RRProcess(f"""
        version: "3"
        rpc:
          listen: {address}
        logs:
          mode: production
        """, tmp_path)
    with rr:
        env = {"RR_RPC": address, "PATH": "/usr/bin:/bin"}
        runs = [subprocess.Popen(["php", str(SCRIPT), "report:42", "0.5"], env=env)
                for _ in range(2)]
        assert [p.wait(60) for p in runs] == [0, 0]
        # a third with a short wait gives up while a fourth holds the lock
        holder = subprocess.Popen(["php", str(SCRIPT), "report:42", "8"], env=env)
        wait_for(lambda: rr.output.count('"msg":"working"') == 3, 20, what="the holder")
        assert subprocess.run(["php", str(SCRIPT), "report:42"], env=env,
                              timeout=60).returncode == 1
        holder.wait(60)
        wait_for(lambda: rr.output.count('"msg":"done"') == 3, 20, what="done lines")
    events = [json.loads(line) for line in rr.output.splitlines()
              if line.startswith("{") and '"logger":"app"' in line]
    working = [e for e in events if e["msg"] in ("working", "done")]
    # strictly alternating: nobody starts working before the previous one is done
    assert [e["msg"] for e in working] == ["working", "done"] * 3
    assert [e["pid"] for e in working[:4]] == [working[0]["pid"]] * 2 + [working[2]["pid"]] * 2
    busy = [e for e in events if e["msg"] == "busy, giving up"]
    assert len(busy) == 1 and busy[0]["level"] == "warn" and busy[0]["resource"] == "report:42"
