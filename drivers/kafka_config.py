"""Reading the `kafka:` section and a kafka pipeline's options (spec/drivers.md §3.1-3.2)
into aiokafka keyword arguments, so the driver itself only deals with records."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from rr.config import Section
from rr.durations import parse_duration
from rr.errors import ConfigError
from rr.pipeline.driver import PipelineOptions

log = logging.getLogger("rr.jobs.kafka")

OFFSET_TYPES = ("AtStart", "AtEnd", "At", "AfterMilli", "Relative", "WithEpoch")

_ACKS = {"noack": 0, "leaderack": 1, "allisrack": "all"}
_CODECS = ("gzip", "snappy", "lz4", "zstd")
_PARTITIONERS = ("manual", "uniform", "roundrobin", "leastbackup", "sticky")


@dataclass(frozen=True, slots=True)
class OffsetSpec:
    """Where to start reading a partition (franz-go's Offset, as RoadRunner names it)."""

    type: str = "AtStart"
    value: int = 0

    @classmethod
    def parse(cls, raw: Any, where: str) -> OffsetSpec:
        if raw is None or raw == "":
            return cls()
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: expected {{type, value}}, got {raw!r}")
        lowered = {str(k).lower(): v for k, v in raw.items()}
        kind = str(lowered.get("type") or "AtStart")
        # RoadRunner: an unknown type means AtStart
        kind = next((t for t in OFFSET_TYPES if t.lower() == kind.lower()), "AtStart")
        try:
            value = int(lowered.get("value") or 0)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}.value: expected an integer") from None
        return cls(kind, value)


@dataclass(slots=True)
class KafkaPipelineConfig:
    topics: list[str] = field(default_factory=list)
    consume_regexp: bool = False
    consume_partitions: dict[str, dict[int, OffsetSpec]] = field(default_factory=dict)
    consumer_offset: OffsetSpec = field(default_factory=OffsetSpec)
    group_id: str = ""
    instance_id: str = ""
    auto_create_topics: bool = False
    manual_partitioning: bool = False
    producer: dict[str, Any] = field(default_factory=dict)
    consumer: dict[str, Any] = field(default_factory=dict)

    @property
    def consumes(self) -> bool:
        return bool(self.topics or self.consume_partitions)

    def queue_names(self) -> list[str]:
        return list(self.topics) or list(self.consume_partitions)

    def default_topic(self) -> str:
        """Topic for jobs pushed without ``options.topic`` (RoadRunner requires one; the
        pipeline's own topic is the obvious target, which lets generic clients push)."""
        if self.topics and not self.consume_regexp:
            return self.topics[0]
        if self.consume_partitions:
            return next(iter(self.consume_partitions))
        return ""


def _duration(raw: Any, where: str) -> float:
    """Durations in Declare JSON are nanosecond integers for RoadRunner, but the PHP SDK
    sends "10s"; both are accepted (a bare number is nanoseconds)."""
    return parse_duration(raw, where)


def _lower(d: dict[str, Any]) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in d.items()}


def parse_pipeline(opts: PipelineOptions) -> KafkaPipelineConfig:
    where = f"jobs.pipelines.{opts.name}.config"
    cfg = KafkaPipelineConfig(auto_create_topics=opts.boolean("auto_create_topics_enable"))

    producer = _lower(opts.mapping("producer_options"))
    acks = producer.get("required_acks")
    if acks not in (None, ""):
        key = str(acks).lower()
        if key not in _ACKS:
            raise ConfigError(f"{where}.producer_options.required_acks: expected NoAck, "
                              f"LeaderAck or AllISRAck, got {acks!r}")
        cfg.producer["acks"] = _ACKS[key]
    else:
        cfg.producer["acks"] = "all"
    if producer.get("max_message_bytes") not in (None, ""):
        cfg.producer["max_request_size"] = int(producer["max_message_bytes"])
    if producer.get("request_timeout") not in (None, ""):
        secs = _duration(producer["request_timeout"], f"{where}.producer_options.request_timeout")
        cfg.producer["request_timeout_ms"] = max(1, int(secs * 1000))
    codec = producer.get("compression_codec")
    if codec not in (None, ""):
        if str(codec).lower() not in _CODECS:
            raise ConfigError(f"{where}.producer_options.compression_codec: expected one of "
                              f"{', '.join(_CODECS)}, got {codec!r}")
        cfg.producer["compression_type"] = str(codec).lower()
    strategy = producer.get("partitioning_strategy")
    if strategy not in (None, ""):
        if str(strategy).lower() not in _PARTITIONERS:
            raise ConfigError(f"{where}.producer_options.partitioning_strategy: expected "
                              f"Manual, Uniform, RoundRobin, LeastBackup or Sticky, "
                              f"got {strategy!r}")
        cfg.manual_partitioning = str(strategy).lower() == "manual"
    # Tansu (and many managed brokers) reject idempotent/transactional producers, and
    # RoadRunner's disable_idempotent only turns it off: it stays off here.
    cfg.producer["enable_idempotence"] = False

    if opts.has("consumer_options"):
        consumer = _lower(opts.mapping("consumer_options"))
        topics = consumer.get("topics") or []
        if isinstance(topics, str):
            topics = [t for t in topics.split(",") if t]
        cfg.topics = [str(t) for t in topics]
        cfg.consume_regexp = str(consumer.get("consume_regexp", "false")).lower() == "true" \
            or consumer.get("consume_regexp") is True
        cfg.consumer_offset = OffsetSpec.parse(consumer.get("consumer_offset"),
                                               f"{where}.consumer_options.consumer_offset")
        for topic, parts in (consumer.get("consume_partitions") or {}).items():
            if not isinstance(parts, dict):
                raise ConfigError(f"{where}.consumer_options.consume_partitions.{topic}: "
                                  f"expected a map of partition -> {{type, value}}")
            cfg.consume_partitions[str(topic)] = {
                int(p): OffsetSpec.parse(spec, f"{where}.consumer_options."
                                               f"consume_partitions.{topic}.{p}")
                for p, spec in parts.items()}
        if not cfg.consumes:
            raise ConfigError(f"{where}.consumer_options: topics and consume partitions "
                              f"should not be empty for the consumer")
        if consumer.get("max_fetch_message_size") not in (None, ""):
            size = int(consumer["max_fetch_message_size"])
            cfg.consumer["fetch_max_bytes"] = size
            cfg.consumer["max_partition_fetch_bytes"] = size
        if consumer.get("min_fetch_message_size") not in (None, ""):
            cfg.consumer["fetch_min_bytes"] = int(consumer["min_fetch_message_size"])

    if opts.has("group_options"):
        group = _lower(opts.mapping("group_options"))
        cfg.group_id = str(group.get("group_id") or "")
        if not cfg.group_id:
            # the PHP SDK may send "group_id": null; RoadRunner fails the same way
            raise ConfigError(f"{where}.group_options: no group ID defined for group options")
        cfg.instance_id = str(group.get("instance_id") or "")
        if cfg.consume_partitions:
            raise ConfigError(f"{where}: consume_partitions cannot be used with group_options")
    return cfg


def connection_kwargs(section: Section) -> dict[str, Any]:
    """aiokafka client arguments from the top-level `kafka:` section."""
    brokers = section.string_list("brokers")
    if not brokers:
        raise ConfigError("kafka.brokers: at least one broker (host:port) is required")
    kwargs: dict[str, Any] = {"bootstrap_servers": brokers}
    tls = section.section("tls")
    use_tls = bool((tls.string("key") and tls.string("cert")) or tls.string("root_ca"))
    if use_tls:
        from aiokafka.helpers import create_ssl_context

        kwargs["ssl_context"] = create_ssl_context(
            cafile=tls.string("root_ca") or None,
            certfile=tls.string("cert") or None,
            keyfile=tls.string("key") or None)
    sasl = section.section("sasl")
    mechanism = sasl.string("mechanism")
    if mechanism:
        names = {"plain": "PLAIN", "scram-sha-256": "SCRAM-SHA-256",
                 "scram-sha-512": "SCRAM-SHA-512"}
        if mechanism.lower() == "aws_msk_iam":
            raise ConfigError("kafka.sasl.mechanism: aws_msk_iam is not supported by this "
                              "server (aiokafka has no MSK IAM signer)")
        if mechanism.lower() not in names:
            raise ConfigError(f"kafka.sasl.mechanism: expected plain, SCRAM-SHA-256 or "
                              f"SCRAM-SHA-512, got {mechanism!r}")
        for unsupported in ("zid", "nonce", "is_token"):
            if sasl.has(unsupported):
                log.warning("kafka.sasl.%s is not supported and is ignored", unsupported)
        kwargs["sasl_mechanism"] = names[mechanism.lower()]
        kwargs["sasl_plain_username"] = sasl.string("username")
        kwargs["sasl_plain_password"] = sasl.string("password")
        kwargs["security_protocol"] = "SASL_SSL" if use_tls else "SASL_PLAINTEXT"
    elif use_tls:
        kwargs["security_protocol"] = "SSL"
    return kwargs
