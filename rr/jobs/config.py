"""The ``jobs`` section (spec/jobs.md §2) read into plain values."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from rr.config import Section
from rr.errors import ConfigError

NAME_PATTERN = re.compile(r"^[a-zA-Z0-9._-]+$")


@dataclass(slots=True)
class PipelineConfig:
    name: str
    driver: str
    options: dict[str, Any]
    priority: int


@dataclass(slots=True)
class JobsConfig:
    pipeline_size: int = 1_000_000
    timeout: float = 60.0
    parallelism: int = 10
    consume: list[str] = field(default_factory=list)
    pipelines: dict[str, PipelineConfig] = field(default_factory=dict)

    @classmethod
    def from_section(cls, s: Section) -> JobsConfig:
        # num_pollers is ignored, as RoadRunner does (rr runs one poller per worker)
        size = s.integer("pipeline_size", 0)
        if size < 0:
            raise ConfigError(f"jobs.pipeline_size: expected a positive integer, got {size}")
        raw_timeout = s.raw("timeout")
        if isinstance(raw_timeout, str) and not raw_timeout.strip().isdigit():
            timeout = s.duration("timeout", 0.0)  # lenient: "60s"
        else:
            timeout = float(s.integer("timeout", 0))
        # 10 without an options block, 5 when options exists but parallelism is 0
        parallelism = (s.integer("options.parallelism", 0) or 5) if s.has("options") else 10
        cfg = cls(pipeline_size=size or 1_000_000, timeout=timeout if timeout > 0 else 60.0,
                  parallelism=max(1, parallelism), consume=s.string_list("consume"))
        if s.has("pools"):
            raise ConfigError("jobs.pools: named pools are not supported; use jobs.pool")
        pipes = s.section("pipelines")
        for name in pipes:
            cfg.pipelines[name] = _pipeline(name, pipes.section(name))
        return cfg


def _pipeline(name: str, p: Section) -> PipelineConfig:
    if not NAME_PATTERN.match(name):
        raise ConfigError(f"jobs.pipelines.{name}: a pipeline name must match "
                          f"{NAME_PATTERN.pattern}")
    driver = p.string("driver")
    if p.has("config"):
        options = p.section("config").to_dict()
    else:
        # The legacy flat form (options next to `driver`). RoadRunner insists on `config`
        # for memory ("config not found by provided key"); accepting both is harmless.
        options = {k: v for k, v in p.to_dict().items() if k not in ("driver",)}
    # pipeline priority: top level wins over config.priority, default 10
    if p.has("priority"):
        priority = p.integer("priority", 10)
    else:
        priority = p.section("config").integer("priority", 10)
    options["priority"] = priority
    return PipelineConfig(name, driver, options, priority)
