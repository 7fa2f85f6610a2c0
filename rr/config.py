"""Loading a RoadRunner v3 config (spec/config.md) and typed access to its values.

Decoding is weakly typed like viper/mapstructure: "4" is an int, "10s" a duration,
"a,b" a list. Every typed getter raises ConfigError naming the key path, the value
and the expected type.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from rr.errors import ConfigError

_MISSING = object()


def parse_duration(value: Any, path: str = "") -> float:
    """Go duration -> seconds. A bare number is nanoseconds (as in RoadRunner)."""
    from rr.durations import parse_duration as _pd

    return _pd(value, path)


class Section(Mapping[str, Any]):
    """A read-only view on a config mapping with typed getters.

    Keys are stored lower-cased (viper); paths are dotted (``pool.supervisor.ttl``).
    """

    def __init__(self, data: Mapping[str, Any] | None, path: str = "") -> None:
        self._data: dict[str, Any] = dict(data or {})
        self.path = path

    # Mapping protocol
    def __getitem__(self, key: str) -> Any:
        return self._data[key.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def _full(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def raw(self, key: str, default: Any = None) -> Any:
        cur: Any = self._data
        for part in key.lower().split("."):
            if not isinstance(cur, Mapping) or part not in cur:
                return default
            cur = cur[part]
        return cur

    def has(self, key: str) -> bool:
        """True when the key is set (a YAML null counts as not set, like viper)."""
        return self.raw(key, None) is not None

    def section(self, key: str) -> Section:
        v = self.raw(key, None)
        if v is None:
            return Section({}, self._full(key))
        if not isinstance(v, Mapping):
            raise ConfigError(f"{self._full(key)}: expected a mapping, got {v!r}")
        return Section(v, self._full(key))

    def env_map(self, key: str) -> dict[str, str]:
        """A worker environment (``server.env``, ``on_init.env``): a mapping, or a list of
        mappings merged in order (later keys win), as mapstructure's weak decoding in
        RoadRunner does; baldinof/roadrunner-bundle ships ``env: [{APP_RUNTIME: …}]``.
        Keys are upper-cased; a null value is the empty string."""
        v = self.raw(key, None)
        if v is None:
            return {}
        parts = v if isinstance(v, list) else [v]
        out: dict[str, str] = {}
        for part in parts:
            if part is None:
                continue
            if not isinstance(part, Mapping):
                raise ConfigError(f"{self._full(key)}: expected a mapping or a list of "
                                  f"mappings, got {v!r}")
            for k, val in part.items():
                if isinstance(val, (Mapping, list)):
                    raise ConfigError(f"{self._full(key)}.{k}: expected a string, got {val!r}")
                out[str(k).upper()] = "" if val is None else (
                    ("true" if val else "false") if isinstance(val, bool) else str(val))
        return out

    def string(self, key: str, default: str = "") -> str:
        v = self.raw(key, None)
        if v is None:
            return default
        if isinstance(v, (Mapping, list)):
            raise ConfigError(f"{self._full(key)}: expected a string, got {v!r}")
        if isinstance(v, bool):
            return "true" if v else "false"
        return str(v)

    def integer(self, key: str, default: int = 0) -> int:
        v = self.raw(key, None)
        if v is None or v == "":
            return default
        if isinstance(v, bool):
            return int(v)
        if isinstance(v, int):
            return v
        if isinstance(v, float) and v.is_integer():
            return int(v)
        try:
            return int(str(v).strip(), 0)
        except ValueError:
            raise ConfigError(
                f"{self._full(key)}: expected an integer, got {v!r}") from None

    def number(self, key: str, default: float = 0.0) -> float:
        v = self.raw(key, None)
        if v is None or v == "":
            return default
        try:
            return float(v)
        except (TypeError, ValueError):
            raise ConfigError(f"{self._full(key)}: expected a number, got {v!r}") from None

    def boolean(self, key: str, default: bool = False) -> bool:
        v = self.raw(key, None)
        if v is None or v == "":
            return default
        if isinstance(v, bool):
            return v
        if isinstance(v, int):
            return v != 0
        s = str(v).strip().lower()
        if s in ("1", "t", "true", "yes", "on"):
            return True
        if s in ("0", "f", "false", "no", "off"):
            return False
        raise ConfigError(f"{self._full(key)}: expected a boolean, got {v!r}")

    def duration(self, key: str, default: float = 0.0) -> float:
        """Seconds (float). No rr option takes a negative duration; Go would accept one
        and then fail somewhere unrelated (``allocate_timeout: -5s`` as a spawn failure)."""
        v = self.raw(key, None)
        if v is None or v == "":
            return default
        seconds = parse_duration(v, self._full(key))
        if seconds < 0:
            raise ConfigError(f"{self._full(key)}: expected a duration of 0 or more, got {v!r}")
        return seconds

    def string_list(self, key: str, default: list[str] | None = None) -> list[str]:
        v = self.raw(key, None)
        if v is None:
            return list(default or [])
        if isinstance(v, str):
            return [p for p in v.split(",")] if v else []
        if isinstance(v, list):
            out = []
            for item in v:
                if isinstance(item, (Mapping, list)):
                    raise ConfigError(
                        f"{self._full(key)}: expected a list of strings, got {v!r}")
                out.append(str(item))
            return out
        if isinstance(v, (int, float)):
            return [str(v)]
        raise ConfigError(f"{self._full(key)}: expected a list of strings, got {v!r}")

    def to_dict(self) -> dict[str, Any]:
        return dict(self._data)


def command_list(raw: Any) -> list[str]:
    """A worker-style command (``server.command``, ``pool.command``, ``on_init.command``):
    a YAML list verbatim, or a string split on single spaces (no shell); a string without
    spaces but with commas is a list (``-o server.command=php,worker.php``, viper's
    weak typing). Empty -> []."""
    if isinstance(raw, list):
        return [str(x) for x in raw]
    if raw is None or str(raw).strip() == "":
        return []
    s = str(raw)
    return s.split(",") if "," in s and " " not in s else s.split(" ")


class Config(Section):
    """The whole effective configuration plus where it came from."""

    def __init__(self, data: Mapping[str, Any], file: Path | None = None,
                 workdir: Path | None = None) -> None:
        super().__init__(data, "")
        self.file = file
        self.workdir = workdir or Path.cwd()

    @property
    def version(self) -> str:
        return self.string("version")


def load(path: str | os.PathLike[str], overrides: list[str] | None = None) -> Config:
    """Placeholder loader; replaced by rr.configload.load_config."""
    from rr.configload import load_config

    return load_config(str(path), overrides or [])


__all__ = ["Config", "ConfigError", "Section", "command_list", "load", "parse_duration",
           "yaml"]
