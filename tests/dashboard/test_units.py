"""Dashboard pieces without a server: config, credentials, rates and quantiles."""

from __future__ import annotations

import base64
import importlib
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from prometheus_client import CollectorRegistry

from rr.app import App
from rr.config import Config, Section
from rr.dashboard import sources
from rr.dashboard.auth import authorized, require_action
from rr.dashboard.config import DashboardConfig
from rr.dashboard.history import History, Reading, quantile, read
from rr.drivers import DRIVERS
from rr.errors import ConfigError
from rr.metrics.http import HttpMetrics
from rr.metrics.jobs import JobsMetrics
from rr.pipeline.deadletters import lists_dead_letters


def cfg(**kw: Any) -> DashboardConfig:
    return DashboardConfig.from_section(Section({"address": "127.0.0.1:2115", **kw},
                                                "dashboard"))


def test_a_hostless_address_binds_to_loopback_only() -> None:
    c = cfg(address=":2115")
    assert (c.host, c.port, c.address) == ("127.0.0.1", 2115, "127.0.0.1:2115")
    assert cfg(address="0.0.0.0:9").host == "0.0.0.0"  # only when asked for


@pytest.mark.parametrize(("kw", "text"), [
    ({"address": ""}, "dashboard.address: required"),
    ({"address": "nope"}, "dashboard.address: expected host:port"),
    ({"user": "u"}, "set both or neither"),
    ({"interval": "0s"}, "dashboard.interval"),
    ({"history": "10s"}, "dashboard.history"),
    ({"max_streams": 0}, "dashboard.max_streams"),
])
def test_bad_values_name_the_key(kw: dict[str, Any], text: str) -> None:
    with pytest.raises(ConfigError, match=text):
        cfg(**kw)


def _req(method: str = "POST", **headers: str) -> web.Request:
    return make_mocked_request(method, "/api/x", headers={"Host": "127.0.0.1:2115", **headers})


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_credentials() -> None:
    c = cfg(user="ops", password="a:b", token="t0k")
    assert authorized(_req(Authorization=_basic("ops", "a:b")), c)
    assert authorized(_req(Authorization="Bearer t0k"), c)
    assert authorized(_req(Authorization="bearer  t0k "), c)
    for bad in (_basic("ops", "a"), _basic("x", "a:b"), "Bearer t0", "Basic !!!", "", "t0k",
                "Basic " + base64.b64encode(b"no-colon").decode()):
        assert not authorized(_req(Authorization=bad), c), bad
    # a token is not accepted as a password, nor basic credentials when only a token is set
    assert not authorized(_req(Authorization=_basic("ops", "a:b")), cfg(token="t0k"))


def test_action_refusals() -> None:
    c = cfg(token="t")
    with pytest.raises(web.HTTPMethodNotAllowed):
        require_action(_req("GET", Authorization="Bearer t"), c)
    with pytest.raises(web.HTTPForbidden) as refused:
        require_action(_req(Authorization="Bearer t"), cfg())  # no credentials configured
    assert "dashboard.token" in (refused.value.text or "")
    with pytest.raises(web.HTTPForbidden):
        require_action(_req(Authorization="Bearer t", Origin="http://evil.test"), c)
    with pytest.raises(web.HTTPUnauthorized):
        require_action(_req(), c)
    require_action(_req(Authorization="Bearer t", Origin="http://127.0.0.1:2115"), c)


def test_quantile_is_histogram_quantile() -> None:
    # 10 observations: 5 in (0, .1], 4 in (.1, .5], 1 above 1
    buckets = {0.1: 5.0, 0.5: 9.0, 1.0: 9.0, float("inf"): 10.0}
    assert quantile(0.5, buckets) == pytest.approx(0.1)
    assert quantile(0.7, buckets) == pytest.approx(0.1 + 0.4 * 2 / 4)
    assert quantile(0.99, buckets) == 1.0  # in +Inf: the highest finite bound
    assert quantile(0.5, {0.1: 0.0, float("inf"): 0.0}) is None
    assert quantile(0.5, {}) is None


def test_rates_come_from_registry_readings() -> None:
    registry = CollectorRegistry()
    jobs, http = JobsMetrics(registry), HttpMetrics(registry)
    history = History(seconds=300, interval=1.0)
    history.add(read(registry, now=100.0))
    for _ in range(30):
        jobs.outcome("mail", "ok", 0.01)
    for _ in range(10):
        jobs.outcome("mail", "dead_lettered", 0.01)
    jobs.outcome("mail", "requeued")
    for status in (200, 200, 200, 404, 500):
        http.request(status, 0.02)
    history.add(read(registry, now=110.0))
    now = read(registry, now=120.0)
    view = history.pipeline(now, "mail")
    assert view["totals"] == {"ok": 30, "dead_lettered": 10, "requeued": 1}
    assert view["throughput"] == pytest.approx(40 / 20)  # requeues are not finished jobs
    assert view["error_rate"] == pytest.approx(10 / 40)
    assert view["series"]["done"] == [pytest.approx(4.0), 0.0]
    h = history.http(now, rate_seconds=20)
    assert h["classes"] == {"1xx": 0, "2xx": 3, "3xx": 0, "4xx": 1, "5xx": 1}
    assert h["rate"] == pytest.approx(5 / 20)
    assert 0.01 < h["window_p50"] <= 0.025 and h["p99"] == h["window_p99"]
    assert history.pipeline(now, "unknown")["throughput"] == 0.0


def test_history_is_bounded() -> None:
    history = History(seconds=60, interval=1.0)
    for t in range(1000):
        history.add(Reading(float(t)))
    assert len(history.readings) <= 62


class _BrokenJobs:
    """A jobs plugin whose broker is down: its state cannot be read."""

    name = "jobs"

    def __init__(self) -> None:
        self.pipelines = {"emails": SimpleNamespace(driver_name="amqp", dead_letter="",
                                                    driver=None)}

    async def jobs_states(self) -> list[dict[str, Any]]:
        raise RuntimeError("connection is closed, can't get the state")

    def pipeline_depths(self) -> dict[str, int]:
        return {"emails": 0}


async def test_a_pipeline_whose_state_fails_is_shown_with_the_error() -> None:
    app = App(Config({"version": "3"}))
    app.plugins["jobs"] = _BrokenJobs()  # type: ignore[assignment]
    history = History(seconds=60, interval=1.0)
    [p] = await sources.pipelines(app, history, read(app.metrics))
    assert (p["pipeline"], p["driver"], p["ready"], p["active"]) == ("emails", "amqp", False,
                                                                      None)
    assert p["error"] == "connection is closed, can't get the state"
    assert (await sources.snapshot(app, history, read(app.metrics)))["workers"] == {}


@pytest.mark.parametrize("driver", ["memory", "amqp", "kafka", "sqs", "redis", "nats",
                                    "beanstalk"])
def test_every_driver_offers_dead_letter_buttons(driver: str) -> None:
    """The page offers list/replay where `rr jobs dlq` works: every driver lists them."""
    factory = DRIVERS[driver]
    cls = getattr(importlib.import_module(factory.module), factory.cls)
    assert lists_dead_letters(cls)
    assert not lists_dead_letters(object())
