"""One ``service.<name>`` entry (spec/service.md §1), from the config or from RPC Create."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from rr.config import Section
from rr.errors import ConfigError

NAME = re.compile(r"^[a-zA-Z0-9._-]+$")
DEFAULT_RESTART_SEC = 30
DEFAULT_STOP_SEC = 5


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    name: str
    command: str
    process_num: int = 1
    exec_timeout: float = 0.0  # seconds; 0 = unlimited
    remain_after_exit: bool = False
    restart_sec: int = DEFAULT_RESTART_SEC
    timeout_stop_sec: int = DEFAULT_STOP_SEC
    service_name_in_log: bool = False
    env: Mapping[str, str] = field(default_factory=dict)
    user: str = ""

    def argv(self) -> list[str]:
        """Split on single spaces, as RoadRunner does (no shell, no quoting)."""
        return self.command.split(" ") if self.command else []

    def environment(self) -> dict[str, str]:
        """rr's environment, then ``env`` upper-cased with $VAR expanded; no RR_* keys."""
        env = dict(os.environ)
        for key, value in self.env.items():
            env[str(key).upper()] = os.path.expandvars(value)
        return env

    @property
    def logger_name(self) -> str:
        return f"service.{self.name}" if self.service_name_in_log else "service"

    @classmethod
    def from_section(cls, name: str, s: Section) -> ServiceConfig:
        if not NAME.match(name):
            raise ConfigError(f"service.{name}: the service name must match {NAME.pattern}")
        if s.raw("command") is None:
            raise ConfigError(f"service.{name}.command: a command is required")
        restart = s.integer("restart_sec")
        stop = s.integer("timeout_stop_sec")
        if restart < 0 or stop < 0:
            raise ConfigError(f"service.{name}: restart_sec and timeout_stop_sec must not be "
                              "negative")
        return cls(
            name=name,
            command=s.string("command"),
            process_num=max(1, s.integer("process_num", 1)),
            exec_timeout=s.duration("exec_timeout"),
            remain_after_exit=s.boolean("remain_after_exit"),
            restart_sec=restart or DEFAULT_RESTART_SEC,
            timeout_stop_sec=stop or DEFAULT_STOP_SEC,
            service_name_in_log=s.boolean("service_name_in_log"),
            env=_env(s.raw("env"), f"service.{name}.env"),
            user=s.string("user"),
        )


def _env(raw: object, path: str) -> dict[str, str]:
    """A map, or the RR docs' list of single-key maps (merged, later entries win)."""
    if raw is None:
        return {}
    items: list[Mapping[str, object]]
    if isinstance(raw, Mapping):
        items = [raw]
    elif isinstance(raw, list) and all(isinstance(i, Mapping) for i in raw):
        items = raw
    else:
        raise ConfigError(f"{path}: expected a map of strings, got {raw!r}")
    out: dict[str, str] = {}
    for item in items:
        for k, v in item.items():
            out[str(k)] = "" if v is None else str(v)
    return out
