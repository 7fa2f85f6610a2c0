"""Pool options (spec/config.md §7.5, worker-protocol.md §8)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from rr.config import Section
from rr.errors import ConfigError

MAX_WORKERS = 500
#: RoadRunner's bound for dynamic_allocator.max_workers and spawn_rate
MAX_DYNAMIC = 100


@dataclass(slots=True)
class SupervisorConfig:
    watch_tick: float = 5.0
    ttl: float = 0.0
    idle_ttl: float = 0.0
    max_worker_memory: int = 0  # MiB
    exec_ttl: float = 0.0

    @property
    def enabled(self) -> bool:
        return bool(self.ttl or self.idle_ttl or self.max_worker_memory)


@dataclass(slots=True)
class DynamicConfig:
    """``pool.dynamic_allocator``: extra workers on demand (rr/pool/scaler.py).

    ``max_workers`` counts the extra workers above ``num_workers``, as in RoadRunner, so
    a configuration moved over keeps its ceiling."""

    max_workers: int = 10
    spawn_rate: int = 5
    idle_timeout: float = 60.0

    @classmethod
    def from_section(cls, s: Section) -> DynamicConfig:
        mx = s.integer("max_workers", 10)
        rate = s.integer("spawn_rate", 5)
        for key, v in (("max_workers", mx), ("spawn_rate", rate)):
            if not 1 <= v <= MAX_DYNAMIC:
                raise ConfigError(f"{s.path}.{key}: expected 1..{MAX_DYNAMIC}, got {v}")
        idle = s.duration("idle_timeout", 60.0)
        # RoadRunner's rule: below one second means the default
        return cls(max_workers=mx, spawn_rate=rate, idle_timeout=idle if idle >= 1 else 60.0)


@dataclass(slots=True)
class PoolConfig:
    num_workers: int = 0
    max_jobs: int = 0
    max_queue_size: int = 0
    allocate_timeout: float = 60.0
    reset_timeout: float = 60.0
    destroy_timeout: float = 60.0
    stream_timeout: float = 60.0
    debug: bool = False
    supervisor: SupervisorConfig | None = None
    dynamic: DynamicConfig | None = None
    # how long a worker gets to exit after the stop command before SIGKILL
    stop_grace: float = 10.0

    @property
    def max_total(self) -> int:
        """The most workers the pool may hold (jobs runs a poller per worker)."""
        return self.num_workers + (self.dynamic.max_workers if self.dynamic else 0)

    @property
    def exec_ttl(self) -> float:
        return self.supervisor.exec_ttl if self.supervisor else 0.0

    @classmethod
    def from_section(cls, s: Section) -> PoolConfig:
        n = s.integer("num_workers", 0)
        if n > MAX_WORKERS:
            raise ConfigError(f"{s.path}.num_workers: number of workers can't be more than "
                              f"{MAX_WORKERS}, got {n}")
        if n < 0:
            raise ConfigError(f"{s.path}.num_workers: expected a positive integer, got {n}")
        if n == 0:
            n = os.cpu_count() or 1
        sup: SupervisorConfig | None = None
        if s.has("supervisor"):
            ss = s.section("supervisor")
            sup = SupervisorConfig(
                watch_tick=ss.duration("watch_tick", 5.0) or 5.0,
                ttl=ss.duration("ttl", 0.0),
                idle_ttl=ss.duration("idle_ttl", 0.0),
                max_worker_memory=ss.integer("max_worker_memory", 0),
                exec_ttl=ss.duration("exec_ttl", 0.0),
            )
        dyn = DynamicConfig.from_section(s.section("dynamic_allocator")) \
            if s.has("dynamic_allocator") else None
        if dyn is not None and n + dyn.max_workers > MAX_WORKERS:
            raise ConfigError(f"{s.path}: num_workers + dynamic_allocator.max_workers can't "
                              f"be more than {MAX_WORKERS}")
        cfg = cls(
            num_workers=n,
            max_jobs=s.integer("max_jobs", 0),
            max_queue_size=s.integer("max_queue_size", 0),
            allocate_timeout=s.duration("allocate_timeout", 60.0) or 60.0,
            reset_timeout=s.duration("reset_timeout", 60.0) or 60.0,
            destroy_timeout=s.duration("destroy_timeout", 60.0) or 60.0,
            stream_timeout=s.duration("stream_timeout", 60.0) or 60.0,
            debug=s.boolean("debug", False),
            supervisor=sup,
            dynamic=dyn,
        )
        for key in ("max_jobs", "max_queue_size"):
            if getattr(cfg, key) < 0:
                raise ConfigError(f"{s.path}.{key}: expected a non-negative integer")
        return cfg
