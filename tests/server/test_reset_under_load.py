"""`rr reset` while HTTP requests keep coming: every request is answered, every worker
is replaced."""

from __future__ import annotations

import threading
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import PHP_DIR, RRProcess, free_port, rpc, run_cli

pytestmark = pytest.mark.php


def test_reset_under_load_loses_no_request(tmp_path: Path) -> None:
    rpc_port, http_port = free_port(), free_port()
    rr = RRProcess(f"""
version: "3"
rpc:
  listen: tcp://127.0.0.1:{rpc_port}
server:
  command: "php {PHP_DIR / 'examples' / 'worker.php'}"
logs:
  level: warn
http:
  address: 127.0.0.1:{http_port}
  pool:
    num_workers: 2
""", tmp_path).start()
    address = f"tcp://127.0.0.1:{rpc_port}"
    try:
        before = {w["pid"] for w in rpc(address, "informer.Workers", "http")["workers"]}
        statuses: list[int] = []
        failures: list[str] = []
        stop = threading.Event()

        def client(n: int) -> None:
            i = 0
            while not stop.is_set() or i < 20:
                try:
                    with urllib.request.urlopen(
                            f"http://127.0.0.1:{http_port}/c{n}/{i}", timeout=30) as r:
                        body = r.read().decode()
                        statuses.append(r.status)
                        if f"/c{n}/{i}" not in body:
                            failures.append(body)
                except Exception as e:  # noqa: BLE001 - collected and asserted below
                    failures.append(repr(e))
                i += 1

        threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        res = run_cli("reset", "-c", str(rr.config_path), cwd=tmp_path)
        assert res.returncode == 0, res.stderr
        assert "plugin reset: [http]" in res.stdout
        stop.set()
        for t in threads:
            t.join(60)
        assert failures == []
        assert statuses and set(statuses) == {200}
        after = {w["pid"] for w in rpc(address, "informer.Workers", "http")["workers"]}
        assert len(after) == 2 and not (after & before)
    finally:
        rr.stop()
