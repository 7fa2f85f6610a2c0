"""metrics.* RPC and the Prometheus endpoint through `rr serve` (real RPC + HTTP)."""

from __future__ import annotations

import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from rr.goridge.frame import CODEC_JSON
from rr.goridge.rpc import RPCClient, RPCClientError
from tests.helpers import RRProcess, free_port, run_cli


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[RPCClient, str]]:
    rpc_port, metrics_port = free_port(), free_port()
    rr = RRProcess(f"""
        version: "3"
        rpc:
          listen: tcp://127.0.0.1:{rpc_port}
        metrics:
          address: 127.0.0.1:{metrics_port}
          collect:
            app_hits:
              type: counter
              help: "Page hits"
              labels: [page]
            app_temp:
              type: gauge
              namespace: app
              subsystem: room
            app_latency:
              type: histogram
              buckets: [0.1, 1, 5]
            app_sizes:
              type: summary
              objectives:
                0.5: 0.05
                0.9: 0.01
        """, tmp_path)
    with rr, RPCClient(f"tcp://127.0.0.1:{rpc_port}") as client:
        yield client, f"http://127.0.0.1:{metrics_port}"


def scrape(url: str, path: str = "/metrics") -> str:
    with urllib.request.urlopen(url + path, timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return str(r.read().decode())


def test_config_collectors_and_updates(served: tuple[RPCClient, str]) -> None:
    rpc, url = served
    assert rpc.call("metrics.Add", {"name": "app_hits", "value": 3, "labels": ["home"]}) is True
    assert rpc.call("metrics.Add", {"name": "app_hits", "value": 1.5, "labels": ["about"]})
    assert rpc.call("metrics.Set", {"name": "app_temp", "value": 21.5, "labels": []}) is True
    assert rpc.call("metrics.Sub", {"name": "app_temp", "value": 1.5}) is True
    assert rpc.call("metrics.Add", {"name": "app_temp", "value": 2}) is True
    for v in (0.05, 0.5, 3, 30):
        assert rpc.call("metrics.Observe", {"name": "app_latency", "value": v}) is True
    for v in range(1, 101):
        assert rpc.call("metrics.Observe", {"NAME": "app_sizes", "Value": v}) is True
    text = scrape(url, "/whatever/path")
    assert "# TYPE app_hits counter\n" in text  # exact name, no _total
    assert 'app_hits{page="home"} 3.0\n' in text
    assert 'app_hits{page="about"} 1.5\n' in text
    assert "app_hits_created" not in text
    assert "# HELP app_hits Page hits\n" in text
    assert "app_room_app_temp 22.0\n" in text
    assert 'app_latency_bucket{le="0.1"} 1.0\n' in text
    assert 'app_latency_bucket{le="1"} 2.0\n' in text
    assert 'app_latency_bucket{le="5"} 3.0\n' in text
    assert 'app_latency_bucket{le="+Inf"} 4.0\n' in text
    assert "app_latency_count 4.0\n" in text
    assert 'app_sizes{quantile="0.5"} 50.0\n' in text
    assert 'app_sizes{quantile="0.9"} 90.0\n' in text
    assert "app_sizes_count 100.0\n" in text
    assert "process_resident_memory_bytes" in text


def test_declare_and_unregister(served: tuple[RPCClient, str]) -> None:
    rpc, url = served
    name = f"dyn_{uuid.uuid4().hex[:8]}"
    declare = {"name": name, "collector": {"namespace": "ns", "subsystem": "", "type": "gauge",
                                          "help": "dynamic", "labels": ["a", "b"],
                                          "buckets": []}}
    assert rpc.call("metrics.Declare", declare) is True
    assert rpc.call("metrics.Declare", declare) is True  # existing name: success
    assert rpc.call("metrics.Set", {"name": name, "value": 7, "labels": ["x", "y"]}) is True
    assert f'ns_{name}{{a="x",b="y"}} 7.0\n' in scrape(url)
    assert rpc.call("metrics.Unregister", name) is True
    assert f"ns_{name}" not in scrape(url)
    with pytest.raises(RPCClientError, match=f"undefined collector {name}"):
        rpc.call("metrics.Unregister", name)
    # a summary without objectives exposes only _sum and _count
    summary = f"sum_{uuid.uuid4().hex[:8]}"
    assert rpc.call("metrics.Declare", {"name": summary, "collector": {"type": "summary"}})
    assert rpc.call("metrics.Observe", {"name": summary, "value": 2, "labels": []})
    text = scrape(url)
    assert f"{summary}_sum 2.0\n" in text and f"{summary}_count 1.0\n" in text
    assert f'{summary}{{quantile' not in text


@pytest.mark.parametrize(("method", "arg", "error"), [
    ("metrics.Add", {"name": "nope", "value": 1}, "undefined collector nope, try first Declare "
     "the desired collector"),
    ("metrics.Sub", {"name": "app_hits", "value": 1, "labels": ["x"]},
     "collector app_hits does not support method `Sub`"),
    ("metrics.Set", {"name": "app_hits", "value": 1, "labels": ["x"]},
     "collector app_hits does not support method Set"),
    ("metrics.Observe", {"name": "app_temp", "value": 1},
     "collector app_temp does not support method `Observe`"),
    ("metrics.Add", {"name": "app_latency", "value": 1},
     "collector app_latency does not support method `Add`"),
    ("metrics.Add", {"name": "app_hits", "value": 1}, "required labels for collector app_hits"),
    ("metrics.Add", {"name": "app_hits", "value": 1, "labels": ["a", "b"]},
     "inconsistent label cardinality: expected 1 label values but got 2 in"),
    ("metrics.Add", {"name": "app_hits", "value": -1, "labels": ["a"]},
     "counter cannot decrease in value"),
    ("metrics.Add", {"name": "app_hits", "value": "many", "labels": ["a"]}, "must be a number"),
    ("metrics.Add", ["app_hits"], "expected an object"),
    ("metrics.Declare", {"name": "x1", "collector": {"type": "meter"}},
     "unknown collector type meter"),
    ("metrics.Declare", {"name": "bad name", "collector": {"type": "gauge"}},
     "not a valid metric name"),
    ("metrics.Declare", {"name": "process_open_fds", "collector": {"type": "gauge"}},
     "duplicate metrics collector registration attempted"),
    ("metrics.Unregister", {"name": "app_hits"}, "expected the collector name"),
])
def test_errors(served: tuple[RPCClient, str], method: str, arg: object,
                error: str) -> None:
    rpc, url = served
    with pytest.raises(RPCClientError) as e:
        rpc.call(method, arg)
    assert error in str(e.value)
    # the connection and the server survive every bad call
    assert rpc.call("metrics.Add", {"name": "app_hits", "value": 1, "labels": ["ok"]}) is True
    assert 'app_hits{page="ok"} 1.0' in scrape(url)


def test_malformed_json_argument(served: tuple[RPCClient, str]) -> None:
    rpc, _ = served
    with pytest.raises(RPCClientError, match="invalid JSON"):
        rpc.call_raw("metrics.Add", b"{not json", CODEC_JSON)
    assert rpc.call("metrics.Add", {"name": "app_hits", "value": 1, "labels": ["x"]}) is True


def test_duplicate_fq_name_under_another_name(served: tuple[RPCClient, str]) -> None:
    rpc, _ = served
    # config "app_temp" is exposed as app_room_app_temp; "temp" here would be the same
    with pytest.raises(RPCClientError, match="duplicate metrics collector registration"):
        rpc.call("metrics.Declare", {"name": "temp", "collector": {
            "type": "gauge", "namespace": "app", "subsystem": "room_app"}})


def test_bad_collector_type_fails_startup(tmp_path: Path) -> None:
    cfg = tmp_path / ".rr.yaml"
    cfg.write_text(f"""version: "3"
metrics:
  address: 127.0.0.1:{free_port()}
  collect:
    Broken:
      type: meter
""")
    res = run_cli("serve", "-c", str(cfg), cwd=tmp_path, timeout=30)
    assert res.returncode == 1
    assert "invalid metric type `meter` for `broken`" in res.stdout + res.stderr


def test_busy_address_fails_startup(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cfg = tmp_path / ".rr.yaml"
        cfg.write_text(f'version: "3"\nmetrics:\n  address: 127.0.0.1:{port}\n')
        res = run_cli("serve", "-c", str(cfg), cwd=tmp_path, timeout=30)
    assert res.returncode == 1
    assert f"listen tcp 127.0.0.1:{port}" in res.stdout + res.stderr


def test_declared_counter_keeps_its_name_before_the_first_sample(
        served: tuple[RPCClient, str]) -> None:
    rpc, url = served
    name = f"orders_{uuid.uuid4().hex[:8]}_total"
    assert rpc.call("metrics.Declare", {"name": name, "collector": {
        "type": "counter", "help": "orders", "labels": ["shop"]}}) is True
    text = scrape(url)
    assert f"# HELP {name} orders\n# TYPE {name} counter\n" in text
    assert f"{name}_total" not in text
    assert rpc.call("metrics.Add", {"name": name, "value": 2, "labels": ["x"]}) is True
    text = scrape(url)
    assert f"# TYPE {name} counter\n{name}{{shop=\"x\"}} 2.0\n" in text
