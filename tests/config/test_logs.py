"""The `logs` section: modes, levels, encodings, outputs, channels (config.md §7.3)."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rr.config import Config
from rr.logs import reset_logging, setup_logging

DEV_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000\t(\w+)\t([\w.]+)\t(.*)$")


@pytest.fixture(autouse=True)
def _clean_logging() -> Iterator[None]:
    yield
    reset_logging()
    logging.getLogger().setLevel(logging.WARNING)


def configure(logs: dict[str, Any] | None, silent: bool = False) -> None:
    data: dict[str, Any] = {"version": "3"}
    if logs is not None:
        data["logs"] = logs
    setup_logging(Config(data), silent=silent)


def test_default_is_development_console_debug(capsys: pytest.CaptureFixture[str]) -> None:
    configure(None)
    logging.getLogger("server").debug("hello", extra={"fields": {"pid": 12, "x": "y"}})
    logging.getLogger("http").info("plain")
    lines = capsys.readouterr().err.splitlines()
    m = DEV_LINE.match(lines[0])
    assert m, lines
    assert m.group(1) == "DEBUG" and m.group(2) == "server"
    assert m.group(3) == 'hello\t{"pid":12,"x":"y"}'
    assert DEV_LINE.match(lines[1]).group(3) == "plain"  # type: ignore[union-attr]
    assert "\x1b[" not in "".join(lines)  # not a tty: no colours


def test_production_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    configure({"mode": "production"})
    before = time.time_ns()
    logging.getLogger("http").info("http log", extra={"fields": {"status": 200, "method": "GET"}})
    logging.getLogger("jobs").warning("careful")
    after = time.time_ns()
    first, second = (json.loads(x) for x in capsys.readouterr().err.splitlines())
    assert list(first) == ["level", "ts", "logger", "msg", "status", "method"]
    assert first["level"] == "info" and first["logger"] == "http" and first["msg"] == "http log"
    assert isinstance(first["ts"], int)
    assert before - 10**6 <= first["ts"] <= after + 10**6  # nanoseconds
    assert first["status"] == 200 and first["method"] == "GET"
    assert second["level"] == "warn"


def test_production_level_defaults_to_debug(capsys: pytest.CaptureFixture[str]) -> None:
    configure({"mode": "production"})
    logging.getLogger("server").debug("dbg")
    assert json.loads(capsys.readouterr().err)["level"] == "debug"


@pytest.mark.parametrize("level,shown", [
    ("info", ["info", "warn", "error"]),
    ("WARN", ["warn", "error"]),
    ("error", ["error"]),
    ("bogus", ["info", "warn", "error"]),  # invalid: production's built-in level (info)
])
def test_levels(capsys: pytest.CaptureFixture[str], level: str, shown: list[str]) -> None:
    configure({"mode": "production", "level": level})
    log = logging.getLogger("server")
    log.debug("d")
    log.info("i")
    log.warning("w")
    log.error("e")
    assert [json.loads(x)["level"] for x in capsys.readouterr().err.splitlines()] == shown


def test_raw_mode_message_only(capsys: pytest.CaptureFixture[str]) -> None:
    configure({"mode": "raw"})
    logging.getLogger("server").info("worker said: hi", extra={"fields": {"pid": 1}})
    assert capsys.readouterr().err == "worker said: hi\n"


@pytest.mark.parametrize("mode", ["off", "none", "OFF"])
def test_off(capsys: pytest.CaptureFixture[str], mode: str) -> None:
    configure({"mode": mode})
    logging.getLogger("server").error("nothing")
    assert capsys.readouterr() == ("", "")


def test_encoding_overrides_mode(capsys: pytest.CaptureFixture[str]) -> None:
    configure({"mode": "development", "encoding": "json"})
    logging.getLogger("rpc").info("x")
    assert json.loads(capsys.readouterr().err)["logger"] == "rpc"
    reset_logging()
    configure({"mode": "production", "encoding": "console"})
    logging.getLogger("rpc").info("x")
    assert DEV_LINE.match(capsys.readouterr().err.rstrip("\n"))


def test_bad_encoding_is_a_config_error() -> None:
    from rr.errors import ConfigError

    with pytest.raises(ConfigError, match="logs.encoding"):
        configure({"encoding": "xml"})


def test_output_stdout_and_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    a, b = tmp_path / "a.log", tmp_path / "sub" / "b.log"
    configure({"mode": "production", "output": ["stdout", str(a), str(b)]})
    logging.getLogger("status").info("to all")
    out = capsys.readouterr()
    assert out.err == ""
    assert json.loads(out.out)["msg"] == "to all"
    assert json.loads(a.read_text())["msg"] == "to all"
    assert json.loads(b.read_text())["msg"] == "to all"


def test_line_ending(capsys: pytest.CaptureFixture[str]) -> None:
    configure({"mode": "raw", "line_ending": "\r\n"})
    logging.getLogger("server").info("a")
    logging.getLogger("server").info("b")
    assert capsys.readouterr().err == "a\r\nb\r\n"


def test_channels(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    configure({"mode": "production", "level": "info", "channels": {
        "server": {"mode": "raw"},
        "http": {"level": "error"},
        "rpc": {"output": str(tmp_path / "rpc.log")},
    }})
    logging.getLogger("server").info("worker stderr verbatim")
    logging.getLogger("server").debug("hidden (inherits level info)")
    logging.getLogger("http").warning("hidden")
    logging.getLogger("http").error("shown")
    logging.getLogger("rpc").info("to file")
    logging.getLogger("jobs").info("top-level")
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "worker stderr verbatim"
    assert json.loads(err[1])["msg"] == "shown"
    assert json.loads(err[2])["logger"] == "jobs"
    assert len(err) == 3
    assert json.loads((tmp_path / "rpc.log").read_text())["msg"] == "to file"


def test_file_logger_options_json_only_to_file(capsys: pytest.CaptureFixture[str],
                                               tmp_path: Path) -> None:
    target = tmp_path / "rr.log"
    configure({"mode": "development", "file_logger_options": {"log_output": str(target),
                                                              "max_size": 1}})
    logging.getLogger("server").info("rotating", extra={"fields": {"k": "v"}})
    assert capsys.readouterr().err == ""
    entry = json.loads(target.read_text())
    assert entry["msg"] == "rotating" and entry["k"] == "v"


def test_silent_keeps_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    configure({"mode": "raw"}, silent=True)
    logging.getLogger("server").info("quiet")
    logging.getLogger("server").warning("loud")
    assert capsys.readouterr().err == "loud\n"


def test_setup_twice_does_not_duplicate(capsys: pytest.CaptureFixture[str]) -> None:
    configure({"mode": "raw", "channels": {"server": {"mode": "raw"}}})
    configure({"mode": "raw"})
    logging.getLogger("server").info("once")
    assert capsys.readouterr().err == "once\n"


def test_exception_in_json(capsys: pytest.CaptureFixture[str]) -> None:
    configure({"mode": "production"})
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("server").exception("failed")
    entry = json.loads(capsys.readouterr().err)
    assert entry["level"] == "error" and entry["error"] == "boom"
    assert "ValueError" in entry["stacktrace"]


def test_third_party_debug_is_quiet(capsys: pytest.CaptureFixture[str]) -> None:
    configure({"mode": "raw"})
    logging.getLogger("aiokafka.conn").debug("noise")
    logging.getLogger("asyncio").warning("real problem")
    assert capsys.readouterr().err == "real problem\n"


def test_library_tracebacks_become_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure(None)
    try:
        raise ConnectionError("peer went away")
    except ConnectionError:
        logging.getLogger("aiohttp.server").warning("lost %s", "x", exc_info=True)
        logging.getLogger("rr.mine").error("own failure", exc_info=True)
    err = capsys.readouterr().err
    assert "lost x: peer went away" in err
    # rr's own records keep their traceback (a bug of ours wants the stack)
    assert err.count("Traceback") == 1 and "own failure" in err


def test_drivers_report_broker_client_events(capsys: pytest.CaptureFixture[str]) -> None:
    configure(None)
    logging.getLogger("aiormq.connection").error("error when creating transport")
    assert "creating transport" not in capsys.readouterr().err
    configure({"channels": {"aiormq": {"level": "error"}}})
    logging.getLogger("aiormq.connection").error("error when creating transport")
    assert "creating transport" in capsys.readouterr().err


def test_describe_always_says_something() -> None:
    from rr.errors import describe

    assert describe(OSError(111, "Connection refused")) == "[Errno 111] Connection refused"
    assert describe(TimeoutError()) == "TimeoutError"
    try:
        try:
            raise ConnectionResetError("reset by peer")
        except ConnectionResetError as e:
            raise RuntimeError() from e
    except RuntimeError as outer:
        assert describe(outer) == "RuntimeError: reset by peer"
    assert describe(ValueError("a\nb")) == "a" and describe(None) == "no reason given"
