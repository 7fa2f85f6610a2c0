"""Config loading rules of spec/config.md §1-6 and the error texts of §9."""

from __future__ import annotations

import json
import logging
import os
import uuid
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rr.configload import expand, load_config, parse_dotenv, parse_override
from rr.errors import ConfigError


def write(tmp_path: Path, text: str, name: str = ".rr.yaml") -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


@pytest.fixture()
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("PORT", "9000")
    monkeypatch.setenv("EMPTY", "")
    monkeypatch.delenv("UNSET", raising=False)
    return monkeypatch


# ---- reading ----------------------------------------------------------------------------
def test_yaml_and_keys_lower_cased(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, """
version: "3"
Server:
  Command: "php w.php"
  env:
    App_Env: prod
"""), [])
    assert cfg.string("server.command") == "php w.php"
    assert cfg.section("server.env").to_dict() == {"app_env": "prod"}
    assert cfg.file == tmp_path / ".rr.yaml"


def test_json_config(tmp_path: Path) -> None:
    path = write(tmp_path, json.dumps({"version": "3", "rpc": {"listen": "tcp://127.0.0.1:1"}}),
                 "rr.json")
    assert load_config(path, []).string("rpc.listen") == "tcp://127.0.0.1:1"


def test_yaml_scalars_resolve_like_go(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, """
version: "3"
a:
  yes_word: yes
  on_word: on
  date: 2024-01-02
  sexagesimal: 1:20
  real_bool: true
  number: 4
  ratio: 0.5
"""), [])
    a = cfg.section("a")
    assert a.raw("yes_word") == "yes"
    assert a.raw("on_word") == "on"
    assert a.raw("date") == "2024-01-02"
    assert a.raw("sexagesimal") == "1:20"
    assert a.raw("real_bool") is True
    assert a.raw("number") == 4
    assert a.raw("ratio") == 0.5


@pytest.mark.parametrize("name", ["rr.toml", "rr", "rr.txt"])
def test_unsupported_extension(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match="Unsupported Config Type"):
        load_config(write(tmp_path, 'version: "3"\n', name), [])


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(str(tmp_path / "nope.yaml"), [])
    assert f"open {tmp_path / 'nope.yaml'}: no such file or directory" in str(e.value)


def test_empty_path() -> None:
    with pytest.raises(ConfigError, match="no configuration file provided"):
        load_config("", [])


def test_yaml_syntax_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"While parsing config: yaml: line \d+: "):
        load_config(write(tmp_path, 'version: "3"\nrpc:\n  listen: [a\n'), [])


def test_bad_json(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="While parsing config"):
        load_config(write(tmp_path, "{nope", "c.json"), [])


def test_top_level_must_be_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(write(tmp_path, "- a\n- b\n"), [])


# ---- version ------------------------------------------------------------------------
def test_version_missing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError,
                       match="rr configuration file should contain a version e.g: version: 3"):
        load_config(write(tmp_path, "rpc: {}\n"), [])


@pytest.mark.parametrize("text,typ", [("3", "int"), ("3.0", "float64"), ("true", "bool")])
def test_version_not_string(tmp_path: Path, text: str, typ: str) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, f"version: {text}\n"), [])
    assert f'version should be a string: `version: "3"`, actual type is: {typ}' in str(e.value)


def test_version_27_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "rr"):
        load_config(write(tmp_path, "version: '2.7'\n"), [])
    assert "please, update your configuration version from version: '2.7'" in caplog.text


def test_version_from_override(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "rpc: {}\n"), ["version=3"]).version == "3"


def test_unknown_section_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "rr"):
        load_config(write(tmp_path, 'version: "3"\nhttpp: {}\nhttp: {}\n'), [])
    assert "httpp" in caplog.text
    assert "'http'" not in caplog.text


# ---- interpolation --------------------------------------------------------------------
@pytest.mark.parametrize("text,expected", [
    ("127.0.0.1:${PORT:-8080}", "127.0.0.1:9000"),
    ("${UNSET:-8080}", "8080"),
    ("${EMPTY:-x}", "x"),
    ("${EMPTY:-}", ""),
    ("php $UNSET/w.php", "php /w.php"),
    ("$PORT", "9000"),
    ("${PORT}", "9000"),
    ("a${}b", "ab"),
    ("${abc", "abc"),
    ("cost $/unit", "cost $/unit"),
    ("a $ b", "a $ b"),
    ("end$", "end$"),
    ("$PORT_X", ""),
    ("$PORT.x", "9000.x"),
    ("$1abc", "abc"),
    ("${*}", ""),
    ("$$", ""),
    ("${UNSET:-a:b}", "a:b"),
    # the reference empties this whole value (bug); each reference is expanded alone here
    ("${UNSET:-1} ${PORT}", "1 9000"),
])
def test_expand(env: pytest.MonkeyPatch, text: str, expected: str) -> None:
    assert expand(text) == expected


def test_interpolation_in_values_and_lists_only(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, """
version: "3"
server:
  command: ["php", "${UNSET:-w.php}", "$PORT"]
  $PORT: key-not-expanded
http:
  address: 127.0.0.1:${PORT}
  pool:
    num_workers: 4
"""), [])
    assert cfg.raw("server.command") == ["php", "w.php", "9000"]
    assert cfg.raw("server.$port") == "key-not-expanded"
    assert cfg.string("http.address") == "127.0.0.1:9000"
    assert cfg.integer("http.pool.num_workers") == 4


_names = st.from_regex(r"[A-Z][A-Z0-9_]{0,8}", fullmatch=True)
_safe_text = st.text(alphabet=st.characters(blacklist_characters="$", codec="utf-8"),
                     max_size=20)


@given(_safe_text)
def test_prop_text_without_dollar_is_unchanged(text: str) -> None:
    assert expand(text, {}) == text


@given(_names, st.text(alphabet=st.characters(blacklist_characters="$}", codec="utf-8"),
                       max_size=10), _safe_text, _safe_text)
def test_prop_braced_reference(name: str, value: str, before: str, after: str) -> None:
    env = {name: value}
    assert expand(f"{before}${{{name}}}{after}", env) == before + value + after
    default_used = expand(f"${{{name}:-dflt}}", env)
    assert default_used == (value if value else "dflt")


@given(_names, st.text(alphabet="abc:/.- ", max_size=10))
def test_prop_default_for_unset(name: str, default: str) -> None:
    assert expand(f"${{{name}:-{default}}}", {}) == default


@given(st.text(max_size=30))
def test_prop_expand_never_fails(text: str) -> None:
    assert isinstance(expand(text, {"A": "1"}), str)


# ---- overrides -------------------------------------------------------------------------
@pytest.mark.parametrize("flag,expected", [
    ("http.pool.num_workers=4", ("http.pool.num_workers", "4")),
    (" 'rpc.listen=tcp://127.0.0.1:1'", ("rpc.listen", "tcp://127.0.0.1:1")),
    ('"a.b = c d "', ("a.b", "c d")),
    ('a.b="quoted \\" value"', ("a.b", 'quoted " value')),
    ("a.b=`x`", ("a.b", "x")),
    ("Server.Command=php,worker.php", ("server.command", "php,worker.php")),
    ("a=b=c", ("a", "b=c")),
])
def test_parse_override(flag: str, expected: tuple[str, str]) -> None:
    assert parse_override(flag) == expected


@pytest.mark.parametrize("flag,message", [
    ("nokey", "invalid flag `nokey`"),
    ("=value", "key should not be empty"),
    ("key=", "value should not be empty"),
    ("key=  ", "value should not be empty"),
])
def test_bad_override(flag: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_override(flag)


def test_overrides_apply_in_order_and_enable_sections(env: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, 'version: "3"\nserver:\n  command: php a.php\n'), [
        "server.command=php,worker.php",
        "rpc.listen=tcp://127.0.0.1:${PORT}",
        "http.pool.num_workers=4",
        "http.pool.num_workers=5",
        "http.middleware=gzip,static",
        "http.pool.allocate_timeout=10s",
    ])
    assert cfg.raw("server.command") == "php,worker.php"
    assert cfg.has("rpc")
    assert cfg.string("rpc.listen") == "tcp://127.0.0.1:9000"
    assert cfg.raw("http.pool.num_workers") == "5"
    assert cfg.integer("http.pool.num_workers") == 5
    assert cfg.string_list("http.middleware") == ["gzip", "static"]
    assert cfg.duration("http.pool.allocate_timeout") == 10.0


def test_override_replaces_scalar_parent(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, 'version: "3"\nrpc: x\n'), ["rpc.listen=tcp://h:1"])
    assert cfg.string("rpc.listen") == "tcp://h:1"


def test_override_comma_command_splits_for_workers(tmp_path: Path) -> None:
    from rr.app import App

    cfg = load_config(write(tmp_path, 'version: "3"\n'), ["server.command=php,worker.php"])
    assert App(cfg).worker_command(cfg.section("http.pool")) == ["php", "worker.php"]


# ---- include ---------------------------------------------------------------------------
def test_include_merges_later_files_win(env: pytest.MonkeyPatch, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, 'version: "3"\nhttp:\n  address: 127.0.0.1:${PORT}\nlogs:\n  mode: raw\n',
          "a.yaml")
    write(tmp_path, 'version: "3"\nlogs:\n  level: info\n', "b.yaml")
    cfg = load_config(write(tmp_path, """
version: "3"
include: [a.yaml, b.yaml]
http:
  address: 127.0.0.1:1
  pool:
    num_workers: 2
logs:
  mode: production
"""), ["http.address=127.0.0.1:2"])
    assert cfg.string("http.address") == "127.0.0.1:9000"  # includes win over -o
    assert cfg.integer("http.pool.num_workers") == 2  # root keys not in includes survive
    assert cfg.string("logs.mode") == "raw"
    assert cfg.string("logs.level") == "info"


def test_include_from_override_string(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, 'version: "3"\nrpc:\n  listen: tcp://127.0.0.1:7\n', "a.yaml")
    write(tmp_path, 'version: "3"\nstatus:\n  address: 127.0.0.1:8\n', "b.yaml")
    cfg = load_config(write(tmp_path, 'version: "3"\n'), ["include=a.yaml b.yaml"])
    assert cfg.string("rpc.listen") == "tcp://127.0.0.1:7"
    assert cfg.string("status.address") == "127.0.0.1:8"


@pytest.mark.parametrize("body,message", [
    (None, "no such file or directory"),
    ("logs: {}\n", "rr configuration file should contain a version"),
    ("version: 3\n", "version should be a string"),
    ("version: '2.7'\n", "version in included file must be the same as in root"),
])
def test_include_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str | None,
                        message: str) -> None:
    monkeypatch.chdir(tmp_path)
    if body is not None:
        write(tmp_path, body, "sub.yaml")
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, 'version: "3"\ninclude: [sub.yaml]\n'), [])


# ---- dotenv ----------------------------------------------------------------------------
def test_dotenv_feeds_interpolation_without_overwriting(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = f"RRT_{uuid.uuid4().hex[:8].upper()}", f"RRT_{uuid.uuid4().hex[:8].upper()}"
    monkeypatch.setenv(b, "from-os")
    monkeypatch.delenv(a, raising=False)
    (tmp_path / ".env").write_text(f"# comment\nexport {a}=from-file\n{b}=from-file\n")
    try:
        cfg = load_config(write(tmp_path, f'version: "3"\nx:\n  a: ${{{a}}}\n  b: ${{{b}}}\n'),
                          [], dotenv=str(tmp_path / ".env"))
        assert cfg.string("x.a") == "from-file"
        assert cfg.string("x.b") == "from-os"
    finally:
        os.environ.pop(a, None)


def test_dotenv_missing_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file or directory"):
        load_config(write(tmp_path, 'version: "3"\n'), [], dotenv=str(tmp_path / "none.env"))


def test_parse_dotenv_forms(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BASE", "b")
    assert parse_dotenv(
        "A=1\nB='single $BASE'\nC=\"dq \\n ${BASE}\"\nD=plain # comment\nE=${A}x\n\n"
    ) == {"A": "1", "B": "single $BASE", "C": "dq \n b", "D": "plain", "E": "1x"}


def test_envfile_only_with_experimental(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"RRT_{uuid.uuid4().hex[:8].upper()}"
    monkeypatch.delenv(name, raising=False)
    (tmp_path / "app.env").write_text(f"{name}=info\n")
    path = write(tmp_path, f'version: "3"\nenvfile: app.env\nlogs:\n  level: ${{{name}:-error}}\n')
    try:
        assert load_config(path, []).string("logs.level") == "error"
        assert load_config(path, [], experimental=True).string("logs.level") == "info"
    finally:
        os.environ.pop(name, None)


def test_rpc_null_section_is_not_set(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, 'version: "3"\nrpc:\nstatus: {}\n'), [])
    assert not cfg.has("rpc")
    assert cfg.has("status")


def test_env_lists_of_maps_merge_like_mapstructure() -> None:
    from rr.config import Section

    s = Section({"env": [{"a": "1", "b": "x"}, {"b": "2", "c": None, "d": True}],
                 "plain": {"k": 5}, "bad": ["no"], "nested": {"k": {"x": 1}}}, "server")
    assert s.env_map("env") == {"A": "1", "B": "2", "C": "", "D": "true"}
    assert s.env_map("plain") == {"K": "5"}
    assert s.env_map("missing") == {}
    with pytest.raises(ConfigError, match="server.bad: expected a mapping or a list of mappings"):
        s.env_map("bad")
    with pytest.raises(ConfigError, match="server.nested.k: expected a string"):
        s.env_map("nested")
