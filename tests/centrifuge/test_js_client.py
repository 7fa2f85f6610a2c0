"""The official JS client (npm ``centrifuge``, its JSON and its protobuf build) under the
machine's Node.js against the built-in endpoint. Its node_modules come from ``npm ci``
in scripts/setup.sh."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.centrifuge.conftest import Start

JS = Path(__file__).parent / "js"


@pytest.mark.parametrize("protocol", ["json", "protobuf"])
def test_js_client_full_scenario(start_rr: Start, protocol: str) -> None:
    node = shutil.which("node")
    if node is None or not (JS / "node_modules" / "centrifuge").is_dir():
        pytest.fail("node or tests/centrifuge/js/node_modules missing: run scripts/setup.sh")
    c = start_rr(ws=True, ws_extra="    history_size: 50\n    presence: true\n")
    run = subprocess.run([node, str(JS / "scenario.mjs"), c.ws_url, protocol],
                         capture_output=True, text=True, timeout=180, cwd=JS)
    assert run.returncode == 0, run.stderr + run.stdout
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["connectData"] == {"hello": "alice", "name": "js"}
    assert out["alice"] == out["bob"] == [{"from": "alice"}, {"from": "bob"}]
    assert out["forbidden"] == 103
    assert out["rpc"] == {"q": "js"} and out["protocol"] == protocol
    assert out["presence"] == ["alice", "bob"]
    assert out["recovered"] is True
    assert out["aliceAfter"] == [{"missed": 1}, {"missed": 2}]
