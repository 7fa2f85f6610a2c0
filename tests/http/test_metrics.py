"""The ``http_metrics`` middleware end to end: `rr serve` + php workers + a real scrape."""

from __future__ import annotations

import threading
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import free_port, wait_for
from tests.http.conftest import ServeFn, Server

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def with_metrics(serve: ServeFn, middleware: str = '["http_metrics"]',
                 pool: str = "num_workers: 2") -> tuple[Server, int]:
    mport = free_port()
    srv = serve(http_extra=f"middleware: {middleware}\n", pool=pool,
                top=f"metrics:\n  address: 127.0.0.1:{mport}\n")
    return srv, mport


def test_counts_per_status(serve: ServeFn) -> None:
    srv, mport = with_metrics(serve, '["headers", "http_metrics"]')
    for _ in range(3):
        assert srv.request("GET", "/")[0] == 200
    assert srv.request("GET", "/status?code=404")[0] == 404
    assert srv.request("GET", "/error")[0] == 500          # soft worker error
    assert srv.request("POST", "/", b"x" * 10, {"Content-Type": "text/plain"})[0] == 200

    m = scrape(mport)
    assert value(m, "rr_http_request_total", status="200") == 4
    assert value(m, "rr_http_request_total", status="404") == 1
    assert value(m, "rr_http_request_total", status="500") == 1
    assert value(m, "rr_http_request_duration_seconds_count", status="200") == 4
    assert value(m, "rr_http_request_duration_seconds_count", status="404") == 1
    buckets = sorted(float(dict(lbl)["le"]) for (name, lbl) in m
                     if name == "rr_http_request_duration_seconds_bucket"
                     and dict(lbl)["status"] == "200")
    assert buckets == [.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20, 30, 60,
                       float("inf")]
    assert value(m, "rr_http_request_duration_seconds_bucket", status="200", le="+Inf") == 4
    assert value(m, "rr_http_requests_queue") == 0
    assert value(m, "rr_http_no_free_workers_total") == 0
    uptime = value(m, "rr_http_uptime_seconds")
    assert uptime is not None and uptime > 0
    # worker gauges are there regardless of the middleware
    assert value(m, "rr_http_total_workers") == 2


def test_streamed_and_server_answers(serve: ServeFn) -> None:
    srv, mport = with_metrics(serve)
    status, _, body = srv.request("GET", "/stream?n=3")
    assert (status, body) == (200, b"chunk0\nchunk1\nchunk2\n")
    assert srv.request("GET", "/status?code=1000")[0] == 500   # status out of range
    assert srv.request("GET", "/crash")[0] == 500              # worker died mid-request
    m = scrape(mport)
    assert value(m, "rr_http_request_total", status="200") == 1
    assert value(m, "rr_http_request_total", status="500") == 2


def test_queue_and_no_free_workers(serve: ServeFn) -> None:
    srv, mport = with_metrics(serve, pool="num_workers: 1\nallocate_timeout: 1s")
    slow: list[int] = []
    t = threading.Thread(target=lambda: slow.append(srv.request("GET", "/sleep?ms=4000")[0]))
    t.start()
    try:
        # the slow request holds the only worker: it shows up in the queue gauge
        wait_for(lambda: value(scrape(mport), "rr_http_requests_queue") == 1)
        status, headers, _ = srv.request("GET", "/")
        assert status == 500
        assert headers["No-Workers"] == "true"
        m = scrape(mport)
        assert value(m, "rr_http_no_free_workers_total") == 1
        assert value(m, "rr_http_request_total", status="500") == 1
        assert value(m, "rr_http_requests_queue") == 1
    finally:
        t.join(30)
    assert slow == [200]
    m = scrape(mport)
    assert value(m, "rr_http_requests_queue") == 0
    assert value(m, "rr_http_request_total", status="200") == 1


def test_not_listed_means_no_series(serve: ServeFn) -> None:
    srv, mport = with_metrics(serve, middleware="[]")
    assert srv.request("GET", "/")[0] == 200
    m = scrape(mport)
    assert not any(name.startswith(("rr_http_request", "rr_http_no_free", "rr_http_uptime"))
                   for name, _ in m)
    assert value(m, "rr_http_total_workers") == 2


def test_without_metrics_plugin_warns_and_serves(serve: ServeFn) -> None:
    srv = serve(http_extra='middleware: ["http_metrics"]\n')
    assert srv.request("GET", "/")[0] == 200
    assert "http_metrics middleware needs the metrics plugin" in srv.rr.output
