"""The one list of plugins: what each is called, where its factory lives, which config
sections it reads and which plugins it must start after.

The server builds its start order from here and the config loader its set of known
sections, so a new plugin is one entry below and nothing else in the core changes.
Order is resolved from ``after`` once (a stable topological sort: among plugins free to
start, the one listed first goes first), so an entry's position is only a tie-breaker.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PluginEntry:
    name: str
    module: str  # imported lazily; must define ``create(app) -> Plugin | None``
    sections: tuple[str, ...] = ()  # top-level config sections this plugin reads
    after: tuple[str, ...] = field(default=())  # plugins that must be started first


# Sections read by the core itself rather than by a plugin.
CORE_SECTIONS: frozenset[str] = frozenset({
    "version", "server", "logs", "endure", "reload", "include", "envfile",
})

ENTRIES: tuple[PluginEntry, ...] = (
    PluginEntry("rpc", "rr.rpc.plugin", ("rpc",)),
    PluginEntry("kv", "rr.kv.plugin", ("kv",), after=("rpc",)),
    # no config sections: both are on whenever RPC is (app follows logs.channels.app)
    PluginEntry("app", "rr.applogger.plugin", after=("rpc",)),
    PluginEntry("lock", "rr.lock.plugin", after=("rpc",)),
    PluginEntry("metrics", "rr.metrics.plugin", ("metrics",), after=("rpc",)),
    # driver sections (amqp:, kafka:, …) hold connection settings the jobs plugin reads
    PluginEntry("jobs", "rr.jobs.plugin", ("jobs", "amqp", "kafka", "sqs", "redis", "nats",
                                          "beanstalk"),
                after=("rpc", "metrics")),
    PluginEntry("cron", "rr.jobs.cron", ("cron",), after=("jobs",)),
    PluginEntry("http", "rr.http.plugin", ("http",), after=("rpc", "metrics")),
    PluginEntry("tcp", "rr.tcp.plugin", ("tcp",), after=("rpc", "metrics")),
    PluginEntry("service", "rr.service.plugin", ("service",), after=("rpc",)),
    PluginEntry("grpc", "rr.grpc.plugin", ("grpc",), after=("rpc", "metrics")),
    PluginEntry("temporal", "rr.temporal.plugin", ("temporal",), after=("rpc", "metrics")),
    PluginEntry("centrifuge", "rr.centrifuge.plugin", ("centrifuge",),
                after=("rpc", "metrics")),
    # reads every plugin above it (workers of every pool); off without dashboard.address
    PluginEntry("dashboard", "rr.dashboard.plugin", ("dashboard",),
                after=("rpc", "metrics", "jobs", "cron", "http", "tcp", "service", "grpc",
                       "temporal", "centrifuge")),
    # status answers /ready for every plugin, so it starts once they all have
    PluginEntry("status", "rr.status.plugin", ("status",), after=("*",)),
)


def start_order(entries: tuple[PluginEntry, ...] = ENTRIES) -> list[PluginEntry]:
    """Entries in an order that honours every ``after`` (``"*"``: after all others)."""
    by_name = {e.name: e for e in entries}
    deps: dict[str, set[str]] = {}
    for e in entries:
        if "*" in e.after:
            deps[e.name] = {n for n in by_name if n != e.name and "*" not in by_name[n].after}
        else:
            unknown = [d for d in e.after if d not in by_name]
            if unknown:
                raise ValueError(f"plugin {e.name!r} starts after unknown plugin {unknown[0]!r}")
            deps[e.name] = set(e.after)
    order: list[PluginEntry] = []
    done: set[str] = set()
    while len(order) < len(entries):
        ready = [e for e in entries if e.name not in done and deps[e.name] <= done]
        if not ready:
            cycle = sorted(n for n in by_name if n not in done)
            raise ValueError(f"plugin dependencies form a cycle: {', '.join(cycle)}")
        order.append(ready[0])
        done.add(ready[0].name)
    return order


def known_sections(entries: tuple[PluginEntry, ...] = ENTRIES) -> frozenset[str]:
    return CORE_SECTIONS | {s for e in entries for s in e.sections}
