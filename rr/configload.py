"""Reading `.rr.yaml` the way RoadRunner's config plugin does (spec/config.md §1-6).

Order: dotenv -> parse -> (experimental) envfile -> ``${VAR}`` expansion -> ``-o``
overrides -> version check -> includes. Every failure is a ConfigError whose text keeps
RoadRunner's core message so that users can search for it.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from rr.config import Config
from rr.errors import ConfigError
from rr.registry import known_sections

log = logging.getLogger("rr")

KNOWN_SECTIONS = known_sections()

CURRENT_VERSION = "3"
PREVIOUS_VERSION = "2.7"

NO_VERSION = "rr configuration file should contain a version e.g: version: 3"
INCLUDE_VERSION = "version in included file must be the same as in root"


# --------------------------------------------------------------------------------------
# YAML: resolve scalars like yaml.v3 (the Go library viper uses), not like YAML 1.1.
# PyYAML would turn `yes`/`on` into booleans, `1:20` into 80 and dates into date objects;
# RoadRunner sees all of those as plain strings.
# --------------------------------------------------------------------------------------
class _Loader(yaml.SafeLoader):
    pass


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers
            if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp",
                           "tag:yaml.org,2002:int", "tag:yaml.org,2002:float")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"))
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
    list("-+0123456789"))
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
               r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."))


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    if text.lstrip("+-").startswith("0o"):
        sign = -1 if text.startswith("-") else 1
        return sign * int(text.lstrip("+-")[2:], 8)
    if text.lstrip("+-").startswith("0x"):
        return int(text, 16)
    return int(text, 10)


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def _go_type(value: Any) -> str:
    """The Go type name viper would report for a decoded YAML/JSON value."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, list):
        return "[]interface {}"
    if isinstance(value, Mapping):
        return "map[string]interface {}"
    return type(value).__name__


def _lower_keys(value: Any) -> Any:
    """viper keys are case-insensitive and stored lower-cased, at every level."""
    if isinstance(value, Mapping):
        return {str(k).lower(): _lower_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lower_keys(v) for v in value]
    return value


def read_file(path: Path) -> dict[str, Any]:
    """Parse one config file by extension; messages follow viper's."""
    ext = path.suffix.lower().lstrip(".")
    if ext in ("example", "dist", "sample") and len(path.suffixes) > 1:
        # `.rr.yaml.example` / `.rr.yaml.dist`: a template is read by its inner extension
        ext = path.suffixes[-2].lower().lstrip(".")
    if ext not in ("yaml", "yml", "json"):
        raise ConfigError(f'Unsupported Config Type "{ext}" (config file {path}: '
                          "expected a .yaml, .yml or .json file)")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"open {path}: no such file or directory") from None
    except OSError as e:
        raise ConfigError(f"open {path}: {e.strerror or e}") from None
    if ext == "json":
        try:
            data = json.loads(text) if text.strip() else {}
        except ValueError as e:
            raise ConfigError(f"While parsing config: {e} (file {path})") from None
    else:
        try:
            data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
        except yaml.MarkedYAMLError as e:
            line = (e.problem_mark.line + 1) if e.problem_mark else 0
            problem = e.problem or e.context or "invalid YAML"
            raise ConfigError(f"While parsing config: yaml: line {line}: {problem} "
                              f"(file {path})") from None
        except yaml.YAMLError as e:
            raise ConfigError(f"While parsing config: yaml: {e} (file {path})") from None
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"While parsing config: {path}: the top level must be a mapping "
                          f"of sections, got {_go_type(data)}")
    return _lower_keys(data)  # type: ignore[no-any-return]


# --------------------------------------------------------------------------------------
# Environment interpolation (§3)
# --------------------------------------------------------------------------------------
_SPECIAL = set("*#$@!?-0123456789")
_NAME_CHAR = re.compile(r"[A-Za-z0-9_]*")


def _lookup(name: str, environ: Mapping[str, str]) -> str:
    default: str | None = None
    if ":-" in name:
        name, default = name.split(":-", 1)
    value = environ.get(name, "")
    if default is not None and value == "":
        return default
    return value


def expand(text: str, environ: Mapping[str, str] | None = None) -> str:
    """Expand ``$NAME``, ``${NAME}`` and ``${NAME:-default}`` in one string.

    The reference treats every reference as the ``:-`` form as soon as the value contains
    ``:-`` anywhere, so ``${A:-1} ${B}`` becomes empty there; that is a bug, and here each
    reference is expanded on its own (``${B}`` is just B's value).
    """
    env = os.environ if environ is None else environ
    if "$" not in text:
        return text
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch != "$" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "{":
            if i + 3 < n and text[i + 2] in _SPECIAL and text[i + 3] == "}":
                out.append(env.get(text[i + 2], ""))
                i += 4
                continue
            close = text.find("}", i + 2)
            if close < 0:
                i += 2  # `${abc` -> the `${` is dropped, the rest kept
                continue
            out.append(_lookup(text[i + 2:close], env) if close > i + 2 else "")
            i = close + 1
            continue
        if nxt in _SPECIAL:
            out.append(env.get(nxt, ""))
            i += 2
            continue
        m = _NAME_CHAR.match(text, i + 1)
        name = m.group(0) if m else ""
        if not name:
            out.append("$")  # `$/`, `$ `: not a reference
            i += 1
            continue
        out.append(env.get(name, ""))
        i += 1 + len(name)
    return "".join(out)


def expand_values(value: Any, environ: Mapping[str, str] | None = None) -> Any:
    """Expand every string value and list element; keys and non-strings stay as they are."""
    if isinstance(value, str):
        return expand(value, environ)
    if isinstance(value, Mapping):
        return {k: expand_values(v, environ) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_values(v, environ) for v in value]
    return value


# --------------------------------------------------------------------------------------
# dotenv
# --------------------------------------------------------------------------------------
_DOTENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*[=:]\s*(.*)$")


def parse_dotenv(text: str) -> dict[str, str]:
    """KEY=VALUE lines as godotenv reads them: comments, `export`, quotes, ${VAR} refs."""
    values: dict[str, str] = {}
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        m = _DOTENV_LINE.match(line)
        if not m:
            raise ConfigError(f"dotenv: unexpected line {raw_line!r}: expected KEY=VALUE")
        key, value = m.group(1), m.group(2).strip()
        lookup = {**os.environ, **values}
        if value[:1] == "'" and value.rfind("'") > 0:
            value = value[1:value.rfind("'")]
        elif value[:1] == '"' and value.rfind('"') > 0:
            inner = value[1:value.rfind('"')]
            inner = re.sub(r"\\(.)", lambda mm: {"n": "\n", "r": "\r", "t": "\t"}.get(
                mm.group(1), mm.group(1)), inner)
            value = expand(inner, lookup)
        else:
            hash_at = value.find(" #")
            if hash_at >= 0:
                value = value[:hash_at].rstrip()
            value = expand(value, lookup)
        values[key] = value
    return values


def load_dotenv(path: str | os.PathLike[str]) -> dict[str, str]:
    """Load a dotenv file into os.environ without overwriting variables already set."""
    p = Path(path).absolute()
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"open {p}: no such file or directory (dotenv file)") from None
    except OSError as e:
        raise ConfigError(f"open {p}: {e.strerror or e} (dotenv file)") from None
    values = parse_dotenv(text)
    for key, value in values.items():
        os.environ.setdefault(key, value)
    return values


# --------------------------------------------------------------------------------------
# -o overrides (§4)
# --------------------------------------------------------------------------------------
_QUOTES = "\"'`"


def parse_override(flag: str) -> tuple[str, str]:
    """``key.path=value`` -> (lower-cased key path, expanded value)."""
    if "=" not in flag:
        raise ConfigError(f"invalid flag `{flag}` (expected -o key.path=value)")
    stripped = flag.lstrip(" " + _QUOTES)
    opening = flag.lstrip(" ")[:1]
    if opening in _QUOTES and stripped.rstrip(" ").endswith(opening):
        # RoadRunner strips only the leading quote of a quoted flag and keeps the closing
        # one in the value (`'a=b'` -> `b'`); a quoted flag loses both here.
        stripped = stripped.rstrip(" ")[:-1]
    key, _, value = stripped.partition("=")
    key = key.strip(" \t\n")
    value = value.strip(" \t\n")
    if not key:
        raise ConfigError(f"key should not be empty (override `{flag}`)")
    if not value:
        raise ConfigError(f"value should not be empty (override `{flag}`)")
    if value[0] in _QUOTES:
        quote = value[0]
        value = value.strip(quote).replace("\\" + quote, quote)
    return key.lower(), expand(value)


def set_path(data: dict[str, Any], key: str, value: Any) -> None:
    """Set a dotted path, creating (or replacing non-mapping) intermediate levels."""
    parts = key.split(".")
    cur = data
    for part in parts[:-1]:
        nxt = cur.get(part)
        if not isinstance(nxt, dict):
            nxt = {}
            cur[part] = nxt
        cur = nxt
    cur[parts[-1]] = value


def deep_merge(base: dict[str, Any], top: Mapping[str, Any]) -> None:
    """Merge ``top`` over ``base``: maps merge key by key, everything else is replaced.

    viper's ``Set(section, map)`` makes an included section shadow the root's section for
    whole-section reads while dotted reads still fall through to the root; merging gives
    one consistent answer for both.
    """
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            deep_merge(base[key], value)
        elif isinstance(value, Mapping):
            base[key] = _copy(value)
        else:
            base[key] = value


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


# --------------------------------------------------------------------------------------
# version and include
# --------------------------------------------------------------------------------------
def check_version(data: Mapping[str, Any], where: str = "") -> str:
    suffix = f" ({where})" if where else ""
    if data.get("version") is None:
        raise ConfigError(NO_VERSION + suffix)
    version = data["version"]
    if not isinstance(version, str):
        raise ConfigError(
            f'version should be a string: `version: "3"`, actual type is: {_go_type(version)}'
            + suffix)
    return version


def _include_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        return [str(v) for v in value]
    raise ConfigError(f"include: expected a list of file paths, got {value!r}")


def apply_includes(data: dict[str, Any], root_version: str) -> None:
    for name in _include_list(data.get("include")):
        path = Path(name).absolute()
        included = read_file(path)
        version = check_version(included, f"included file {path}")
        if version != root_version:
            raise ConfigError(f"{INCLUDE_VERSION} (included file {path} has version "
                              f"{version!r}, root has {root_version!r})")
        deep_merge(data, expand_values(included))


# --------------------------------------------------------------------------------------
def load_config(path: str, overrides: list[str], dotenv: str | None = None,
                experimental: bool = False) -> Config:
    """The effective configuration of ``path`` (relative paths: the current directory)."""
    if not path:
        raise ConfigError("no configuration file provided")
    if dotenv:
        load_dotenv(dotenv)
    file = Path(path).absolute()
    data = read_file(file)

    envfile = data.get("envfile")
    if envfile:
        if experimental:
            load_dotenv(file.parent / str(envfile))
        else:
            log.warning("envfile: %r is ignored: it is an experimental feature, "
                        "enable it with -e", envfile)

    data = expand_values(data)
    for flag in overrides:
        key, value = parse_override(flag)
        set_path(data, key, value)

    version = check_version(data, f"config file {file}")
    if version == PREVIOUS_VERSION:
        log.warning("please, update your configuration version from version: '2.7' to "
                    "version: '3', see https://docs.roadrunner.dev/docs/general/config "
                    "for the changes")
    apply_includes(data, version)

    for section in data:
        if section not in KNOWN_SECTIONS:
            log.warning("unknown configuration section %r in %s is ignored", section, file)
    return Config(data, file=file, workdir=Path.cwd())


__all__ = ["KNOWN_SECTIONS", "expand", "expand_values", "load_config", "load_dotenv",
           "parse_dotenv", "parse_override", "read_file"]
