"""A PHP script using the php/ library's RPC clients (RR\\Metrics\\Metrics, RR\\KV\\Cache)
against `rr serve`: the reply shapes and error texts are what those clients expect."""

from __future__ import annotations

import json
import subprocess
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.helpers import PHP_FIXTURES, RRProcess, free_port

pytestmark = pytest.mark.php


@pytest.mark.parametrize("driver", ["memory", "redis"])
def test_php_metrics_and_kv(tmp_path: Path, driver: str) -> None:
    rpc_port, metrics_port = free_port(), free_port()
    storage_cfg = "config: {}" if driver == "memory" else \
        'config: {addrs: ["127.0.0.1:6379"], db: 5}'
    rr = RRProcess(f"""
        version: "3"
        rpc:
          listen: tcp://127.0.0.1:{rpc_port}
        metrics:
          address: 127.0.0.1:{metrics_port}
        kv:
          app:
            driver: {driver}
            {storage_cfg}
        """, tmp_path)
    prefix = f"p{uuid.uuid4().hex[:10]}"
    with rr:
        res = subprocess.run(["php", str(PHP_FIXTURES / "obs_client.php"),
                              f"tcp://127.0.0.1:{rpc_port}", prefix, "app"],
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stdout + res.stderr
        out = json.loads(res.stdout)
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics") as r:
            text = r.read().decode()
    assert out["get"] == {"name": "Ann", "tags": [1, 2]}
    assert out["missing"] == "default"
    assert out["has"] == [True, False]
    assert out["multiple"] == {f"{prefix}:a": 1, f"{prefix}:b": None, f"{prefix}:nope": "d"}
    assert 3590 <= out["ttl_seconds"] <= 3600
    assert out["ttl_none"] is None
    assert out["after_delete"] is False
    assert out["expired"] is False
    assert "Storage" in out["bad_storage"]
    assert "counter cannot decrease" in out["negative"]
    assert "undefined collector never_declared" in out["undeclared"]
    assert f'{prefix}_orders{{shop="berlin"}} 2.0\n' in text
    assert f"{prefix}_queue 6.0\n" in text
    assert f'{prefix}_took_bucket{{le="1"}} 1.0\n' in text
    assert f'{prefix}_took_bucket{{le="0.5"}} 0.0\n' in text
