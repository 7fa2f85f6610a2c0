"""app.* from real PHP (RR\\Logger\\Logger) into `rr serve`'s log: every level, with and
without context, in each logs mode/encoding, per-channel settings, and raw stderr lines."""

from __future__ import annotations

import json
import subprocess
import textwrap
import uuid
from pathlib import Path

import pytest

from rr.applogger.proto.applogger_pb2 import LogAttrs, LogEntry
from rr.goridge.frame import CODEC_JSON, CODEC_PROTO
from rr.goridge.rpc import RPCClient, RPCClientError
from tests.helpers import PHP_FIXTURES, RRProcess, free_port, wait_for

LEVELS = {"error": "error", "warning": "warn", "info": "info", "debug": "debug"}
# what the PHP client makes of the fixture's context (NAN cannot be JSON-encoded: skipped)
CONTEXT = {"user": "ann", "n": "42", "ok": "true", "list": '[1,"a"]', "obj": "as-text"}


def run_logger(tmp: Path, logs: str) -> tuple[str, str, RRProcess]:
    """Start rr with this `logs` block, run the PHP fixture, stop rr; (tag, output, rr)."""
    port = free_port()
    tag = f"t{uuid.uuid4().hex[:8]}"
    config = (f'version: "3"\nrpc:\n  listen: tcp://127.0.0.1:{port}\nlogs:\n'
              + textwrap.indent(textwrap.dedent(logs).strip("\n"), "  ") + "\n")
    rr = RRProcess(config, tmp)
    with rr:
        done = subprocess.run(
            ["php", str(PHP_FIXTURES / "app_logger.php"), f"tcp://127.0.0.1:{port}", tag],
            capture_output=True, text=True, timeout=60)
        assert done.stdout.strip() == "done", done.stdout + done.stderr
        wait_for(lambda: f"{tag} raw ctx" in rr.output, 20, what="the last app line")
    return tag, rr.output, rr


def lines_with(output: str, text: str) -> list[str]:
    return [line for line in output.splitlines() if text in line]


def json_lines(output: str, tag: str) -> dict[str, dict[str, object]]:
    found = {}
    for line in lines_with(output, tag):
        if line.startswith("{"):
            entry = json.loads(line)
            found[str(entry["msg"])] = entry
    return found


def assert_raw_lines(output: str, tag: str) -> None:
    assert f"\n{tag} raw line\n" in output
    # a trailing newline is not doubled
    assert f"\n{tag} raw with newline\n" in output
    assert f"{tag} raw with newline\n\n" not in output
    assert f"\n{tag} raw ctx a:1,b:2\n" in output


def test_development_console_every_level_with_fields(tmp_path: Path) -> None:
    tag, out, _ = run_logger(tmp_path, "mode: development\nlevel: debug\n")
    for php_level, zap in LEVELS.items():
        plain = lines_with(out, f"{tag} plain {php_level}")
        assert len(plain) == 1, out
        cols = plain[0].split("\t")
        assert cols[1:] == [zap.upper(), "app", f"{tag} plain {php_level}"]
        ctx = lines_with(out, f"{tag} ctx {php_level}")
        assert len(ctx) == 1
        cols = ctx[0].split("\t")
        assert cols[1:4] == [zap.upper(), "app", f"{tag} ctx {php_level}"]
        assert json.loads(cols[4]) == CONTEXT
    assert_raw_lines(out, tag)


def test_production_json_fields_are_own_keys(tmp_path: Path) -> None:
    tag, out, _ = run_logger(tmp_path, "mode: production\nlevel: debug\n")
    found = json_lines(out, tag)
    for php_level, zap in LEVELS.items():
        plain = found[f"{tag} plain {php_level}"]
        assert plain["level"] == zap and plain["logger"] == "app"
        assert isinstance(plain["ts"], int) and plain["ts"] > 10**18  # nanoseconds
        assert set(plain) == {"level", "ts", "logger", "msg"}
        ctx = found[f"{tag} ctx {php_level}"]
        assert {k: ctx[k] for k in CONTEXT} == CONTEXT
        assert ctx["level"] == zap and "bad" not in ctx
    # raw lines are not JSON-encoded
    assert_raw_lines(out, tag)


def test_json_encoding_in_development_mode(tmp_path: Path) -> None:
    tag, out, _ = run_logger(tmp_path, "mode: development\nencoding: json\n")
    found = json_lines(out, tag)
    assert found[f"{tag} ctx info"]["user"] == "ann"
    assert found[f"{tag} plain debug"]["level"] == "debug"


def test_raw_mode_message_text_only(tmp_path: Path) -> None:
    tag, out, _ = run_logger(tmp_path, "mode: raw\n")
    for php_level in LEVELS:
        assert f"\n{tag} plain {php_level}\n" in out
        assert f"\n{tag} ctx {php_level}\n" in out
    assert_raw_lines(out, tag)


def test_channel_app_level_filters_only_app(tmp_path: Path) -> None:
    tag, out, _ = run_logger(tmp_path, """
        mode: development
        level: debug
        channels:
          app:
            level: warn
            encoding: json
        """)
    found = json_lines(out, tag)
    assert set(found) == {f"{tag} plain error", f"{tag} ctx error",
                          f"{tag} plain warning", f"{tag} ctx warning"}
    assert found[f"{tag} ctx warning"]["n"] == "42"
    assert_raw_lines(out, tag)  # Log has no level: never filtered


def test_file_output_gets_log_lines_stderr_gets_raw(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "rr.log"
    tag, out, _ = run_logger(tmp_path, f"""
        mode: production
        output: {log_file}
        """)
    text = log_file.read_text()
    found = json_lines(text, tag)
    assert f"{tag} ctx error" in found and f"{tag} plain debug" in found
    assert f"{tag} raw" not in text
    assert not lines_with(out, f"{tag} plain")
    assert_raw_lines(out, tag)


def test_logs_off_still_writes_raw_lines(tmp_path: Path) -> None:
    tag, out, _ = run_logger(tmp_path, "mode: off\n")
    assert not lines_with(out, f"{tag} plain")
    assert_raw_lines(out, tag)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> object:
    port = free_port()
    rr = RRProcess(f"""
        version: "3"
        rpc:
          listen: tcp://127.0.0.1:{port}
        logs:
          mode: production
        """, tmp_path_factory.mktemp("applog"))
    with rr:
        yield f"tcp://127.0.0.1:{port}", rr


def test_replies_per_codec_and_bad_input(server: tuple[str, RRProcess]) -> None:
    address, rr = server
    with RPCClient(address) as c:
        assert c.call("app.Info", "plain") is False  # as RoadRunner: the reply is never set
        assert c.call("app.Log", "raw from python") is False
        entry = LogEntry(message="structured", log_attrs=[LogAttrs(key="k", value="v")])
        # *WithContext answers an empty Response: zero bytes in proto, {} in JSON
        assert c.call_raw("app.InfoWithContext", entry.SerializeToString(), CODEC_PROTO) == b""
        assert c.call_raw("app.WarningWithContext",
                          b'{"message":"via json","log_attrs":[{"key":"a","value":"b"}]}',
                          CODEC_JSON) == b"{}"
        with pytest.raises(RPCClientError, match="must be a JSON string"):
            c.call("app.Error", 12)
        with pytest.raises(RPCClientError, match="invalid JSON"):
            c.call_raw("app.Error", b"{not json", CODEC_JSON)
        with pytest.raises(RPCClientError, match="cannot parse"):
            c.call_raw("app.ErrorWithContext", b"\xff\xff\xff", CODEC_PROTO)
        with pytest.raises(RPCClientError, match="can't find method app.Critical"):
            c.call("app.Critical", "x")
        assert c.call_raw("app.LogWithContext", LogEntry(
            message="ctx-less raw\n").SerializeToString(), CODEC_PROTO) == b""
        assert c.call("app.Debug", "still serving") is False
    wait_for(lambda: '"msg":"still serving"' in rr.output, 20, what="the debug line")
    found = json_lines(rr.output, "")
    assert found["structured"]["k"] == "v" and found["via json"]["level"] == "warn"
    assert "\nraw from python\n" in rr.output
    assert "\nctx-less raw\n" in rr.output and "ctx-less raw\n\n" not in rr.output


def test_php_sees_server_errors_as_logger_exception(
        server: tuple[str, RRProcess], tmp_path: Path) -> None:
    """A string field that is not UTF-8 is refused by the proto decoder (as Go's is); the
    PHP client turns the error reply into a one-line LoggerException and keeps working."""
    address, rr = server
    script = tmp_path / "bad.php"
    script.write_text(textwrap.dedent(f"""\
        <?php
        require '{PHP_FIXTURES.parent.parent / "php" / "autoload.php"}';
        $logger = new \\RR\\Logger\\Logger(\\RR\\RPC\\RPC::create('{address}'));
        try {{
            $logger->info("bad \\xff", ['k' => 'v']);
        }} catch (\\RR\\Logger\\LoggerException $e) {{
            echo get_class($e), ': ', $e->getMessage(), "\\n";
        }}
        $logger->info('after the error', ['k' => 'v']);
        """))
    done = subprocess.run(["php", str(script)], capture_output=True, text=True, timeout=60)
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("RR\\Logger\\LoggerException: Error '"), \
        done.stdout + done.stderr
    assert "\t" not in lines[0]
    wait_for(lambda: '"msg":"after the error"' in rr.output, 20, what="the next line")
