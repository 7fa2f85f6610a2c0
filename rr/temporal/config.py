"""The ``temporal`` section (spec/temporal.md §2) read into plain values."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from rr.config import Section
from rr.errors import ConfigError

DEFAULT_ADDRESS = "localhost:7233"  # what the Go SDK dials when address is empty
CLIENT_AUTH_TYPES = ("no_client_cert", "request_client_cert", "require_any_client_cert",
                     "verify_client_cert_if_given", "require_and_verify_client_cert")


@dataclass(slots=True)
class TLSConfig:
    key: str = ""
    cert: str = ""
    root_ca: str = ""
    server_name: str = ""
    client_auth_type: str = "no_client_cert"


@dataclass(slots=True)
class MetricsConfig:
    driver: str = "prometheus"
    address: str = "127.0.0.1:9091"
    prefix: str = ""


@dataclass(slots=True)
class TemporalConfig:
    address: str = DEFAULT_ADDRESS
    namespace: str = "default"
    cache_size: int = 10000
    disable_activity_workers: bool = False
    tls: TLSConfig | None = None
    metrics: MetricsConfig | None = None
    interceptors: list[str] = field(default_factory=list)

    @classmethod
    def from_section(cls, s: Section) -> TemporalConfig:
        cache = s.integer("cache_size", 0)
        if cache < 0:
            raise ConfigError(f"temporal.cache_size: expected a positive integer, got {cache}")
        cfg = cls(address=s.string("address") or DEFAULT_ADDRESS,
                  namespace=s.string("namespace") or "default",
                  cache_size=cache or 10000,
                  disable_activity_workers=s.boolean("disable_activity_workers", False))
        if s.has("tls"):
            cfg.tls = _tls(s.section("tls"))
        if s.has("metrics"):
            cfg.metrics = _metrics(s.section("metrics"))
        # Go interceptors and converters are plugins compiled into the RR binary: rr has
        # none, so any name is "not registered" once the list is otherwise valid
        _names(s, "interceptors", "interceptor name must not be empty",
               'duplicate interceptor name "{}"', 'interceptor "{}" is not registered')
        _names(s, "data_converters", "data converter encoding must not be empty",
               'duplicate data converter encoding "{}"',
               'data converter with encoding "{}" is not registered')
        return cfg


def _names(s: Section, key: str, empty: str, duplicate: str, unknown: str) -> None:
    if not s.has(key):
        return
    names = s.string_list(key)
    seen: set[str] = set()
    for n in names:
        if not n:
            raise ConfigError(f"temporal.{key}: {empty}")
        if n in seen:
            raise ConfigError(f"temporal.{key}: " + duplicate.format(n))
        seen.add(n)
    if names:
        raise ConfigError(f"temporal.{key}: " + unknown.format(names[0]))


def _tls(s: Section) -> TLSConfig:
    t = TLSConfig(key=s.string("key"), cert=s.string("cert"), root_ca=s.string("root_ca"),
                  server_name=s.string("server_name"),
                  client_auth_type=s.string("client_auth_type") or "no_client_cert")
    if t.client_auth_type not in CLIENT_AUTH_TYPES:
        t.client_auth_type = "no_client_cert"  # as the plugin does: unknown → no_client_cert
    if t.key and not os.path.exists(t.key):
        raise ConfigError(f"temporal.tls.key: private key file '{t.key}' does not exist")
    if t.cert and not os.path.exists(t.cert):
        raise ConfigError(f"temporal.tls.cert: public certificate file '{t.cert}' "
                          "does not exist")
    if t.root_ca and not os.path.exists(t.root_ca):
        raise ConfigError(f"temporal.tls.root_ca: root CA file '{t.root_ca}' does not exist")
    return t


def _metrics(s: Section) -> MetricsConfig:
    driver = s.string("driver") or "prometheus"
    if driver not in ("prometheus", "statsd"):
        raise ConfigError(f"temporal.metrics.driver: unknown driver provided: {driver}")
    if driver == "statsd":
        # sdk-core exports Prometheus or OTel only
        raise ConfigError("temporal.metrics.driver: statsd is not supported by rr "
                          "(use prometheus)")
    nested = s.section("prometheus")
    # the flat legacy form (metrics.address / metrics.prefix) overrides the nested one
    address = s.string("address") or nested.string("address") or "127.0.0.1:9091"
    prefix = s.string("prefix") or nested.string("prefix")
    return MetricsConfig(driver=driver, address=address, prefix=prefix)
