"""service plugin pieces without processes: config rules, exec lookup, exit texts."""

from __future__ import annotations

import signal

import pytest

from rr.config import Section
from rr.errors import ConfigError
from rr.service.config import ServiceConfig
from rr.service.process import StartError, exit_text, resolve


def test_defaults_and_zero_values() -> None:
    c = ServiceConfig.from_section("a", Section({"command": "php loop.php", "process_num": 0,
                                                 "restart_sec": 0, "timeout_stop_sec": 0,
                                                 "exec_timeout": "1m"}, "service.a"))
    assert (c.process_num, c.restart_sec, c.timeout_stop_sec, c.exec_timeout) == (1, 30, 5, 60)
    assert c.argv() == ["php", "loop.php"] and c.logger_name == "service"
    assert ServiceConfig("a", "x a  b").argv() == ["x", "a", "", "b"]  # single spaces


def test_env_forms_and_expansion(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SVC_BASE", "/srv")
    for raw in ({"foo": "$SVC_BASE/x", "n": 1}, [{"foo": "${SVC_BASE}/x"}, {"n": 1}]):
        c = ServiceConfig.from_section("a", Section({"command": "x", "env": raw}, "s"))
        env = c.environment()
        assert env["FOO"] == "/srv/x" and env["N"] == "1"
        assert not any(k.startswith("RR_") and k not in __import__("os").environ for k in env)
    with pytest.raises(ConfigError, match="service.a.env"):
        ServiceConfig.from_section("a", Section({"command": "x", "env": "nope"}, "s"))


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="must match"):
        ServiceConfig.from_section("a b", Section({"command": "x"}, "s"))
    with pytest.raises(ConfigError, match="command is required"):
        ServiceConfig.from_section("a", Section({}, "s"))


def test_resolve_and_exit_texts() -> None:
    assert resolve(["sleep", "1"], {"PATH": "/usr/bin:/bin"}).endswith("/sleep")
    assert resolve(["./x"], {}) == "./x"
    with pytest.raises(StartError, match=r'exec: "nope-x": executable file not found in \$PATH'):
        resolve(["nope-x"], {"PATH": "/usr/bin"})
    with pytest.raises(StartError, match="exec: no command"):
        resolve([], {})
    assert exit_text(1) == "exit status 1"
    assert exit_text(-signal.SIGKILL) == "signal: killed"
    assert exit_text(-signal.SIGINT) == "signal: interrupt"
    assert exit_text(-signal.SIGTERM) == "signal: terminated"
