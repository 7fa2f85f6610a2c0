"""AMQP pipeline options and the `amqp:` connection section (spec/drivers.md §2.1-§2.2).

Both origins (config file, jobs.Declare string map) go through PipelineOptions, so one
parser serves both. Errors name the key path.
"""

from __future__ import annotations

import hashlib
import os
import ssl
import uuid
from dataclasses import dataclass, field
from typing import Any

from rr.errors import ConfigError
from rr.pipeline.driver import PipelineOptions

DEFAULT_ADDR = "amqp://guest:guest@127.0.0.1:5672/"
EXCHANGE_TYPES = ("direct", "fanout", "topic", "headers")
CLIENT_AUTH_TYPES = ("no_client_cert", "request_client_cert", "require_any_client_cert",
                     "verify_client_cert_if_given", "require_and_verify_client_cert")
EMPTY_QUEUE = "empty queue name, consider adding the queue name to the AMQP configuration"
EMPTY_ROUTING_KEY = ("empty routing key, consider adding the routing key name to the AMQP "
                     "configuration")
MAX_QUEUE_NAME = 255


@dataclass(slots=True)
class AMQPConfig:
    addr: str = DEFAULT_ADDR
    ssl_context: ssl.SSLContext | None = None
    priority: int = 10
    prefetch: int = 10
    queue: str = ""
    exchange: str = "amqp.default"
    exchange_type: str = "direct"
    routing_key: str = ""
    exclusive: bool = False
    durable: bool = False
    queue_auto_delete: bool = False
    exchange_durable: bool = False
    exchange_auto_delete: bool = False
    delete_queue_on_stop: bool = False
    multiple_ack: bool = False
    requeue_on_fail: bool = False
    redial_timeout: float = 60.0
    queue_headers: dict[str, Any] = field(default_factory=dict)
    consumer_id: str = ""
    exchange_declare: bool = True
    queue_declare: bool = True

    @classmethod
    def from_options(cls, opts: PipelineOptions) -> AMQPConfig:
        section = opts.global_section
        if not len(section):
            # RoadRunner refuses too; connecting to guest@127.0.0.1 instead would hide a
            # missing or misspelt section until the jobs silently go to the wrong broker
            raise ConfigError(f"jobs.pipelines.{opts.name}: no global amqp configuration, "
                              "global configuration should contain amqp addrs (add an "
                              "amqp: section with addr)")
        exchange_type = opts.string("exchange_type", "direct").lower() or "direct"
        if exchange_type == "topics":
            # PHP's ExchangeType::Topics sends "topics"; RabbitMQ only knows "topic"
            exchange_type = "topic"
        if exchange_type not in EXCHANGE_TYPES:
            raise ConfigError(
                f"jobs.pipelines.{opts.name}.config.exchange_type: invalid exchange type "
                f"{exchange_type!r}, must be one of: {', '.join(EXCHANGE_TYPES)}")
        prefetch = opts.integer("prefetch", 10)
        redial = opts.get("redial_timeout")
        return cls(
            addr=section.string("addr", DEFAULT_ADDR) or DEFAULT_ADDR,
            ssl_context=_tls_context(section),
            priority=opts.priority,
            prefetch=prefetch if prefetch > 0 else 10,
            queue=opts.string("queue"),
            exchange=opts.string("exchange", "amqp.default") or "amqp.default",
            exchange_type=exchange_type,
            routing_key=opts.string("routing_key"),
            exclusive=opts.boolean("exclusive"),
            durable=opts.boolean("durable"),
            queue_auto_delete=opts.boolean("queue_auto_delete"),
            exchange_durable=opts.boolean("exchange_durable"),
            exchange_auto_delete=opts.boolean("exchange_auto_delete"),
            delete_queue_on_stop=opts.boolean("delete_queue_on_stop"),
            multiple_ack=opts.boolean("multiple_ack"),
            requeue_on_fail=opts.boolean("requeue_on_fail"),
            # a bare number is seconds here (RoadRunner's int option), else a duration
            redial_timeout=(float(opts.integer("redial_timeout", 60))
                            if redial is None or str(redial).strip().isdigit()
                            else opts.duration("redial_timeout", 60.0)),
            queue_headers=_queue_headers(opts),
            consumer_id=opts.string("consumer_id") or f"roadrunner-{uuid.uuid4()}",
            exchange_declare=opts.boolean("exchange_declare", True),
            queue_declare=opts.boolean("queue_declare", True),
        )

    @property
    def routable_without_key(self) -> bool:
        return self.exchange_type in ("fanout", "headers")

    def delay_queue_name(self, delay_ms: int, pipeline: str, routing_key: str) -> str:
        """The temporary queue that holds a delayed job until its TTL dead-letters it.

        RoadRunner names it ``delayed-<ms>.<exchange>.<queue>`` and gives it the routing
        key as ``x-dead-letter-routing-key``: two pipelines (or two ``x-routing-key``
        values) sharing that name then redeclare one queue with different arguments,
        which RabbitMQ refuses (PRECONDITION_FAILED closes the channel) - or, worse,
        dead-letters one pipeline's jobs with the other's key. The pipeline and the
        routing key are part of our name, so each distinct target gets its own queue.
        """
        base = self.queue or routing_key
        name = f"delayed-{delay_ms}.{self.exchange}.{base}.{pipeline}.{routing_key}"
        if len(name.encode()) > MAX_QUEUE_NAME:
            digest = hashlib.sha1(name.encode()).hexdigest()
            name = f"delayed-{delay_ms}.{digest}"
        return name


def _queue_headers(opts: PipelineOptions) -> dict[str, Any]:
    raw = opts.get("queue_headers")
    # older PHP SDKs send "[]" for no headers; RoadRunner then fails the Declare
    if isinstance(raw, str) and raw.strip() in ("", "[]", "{}"):
        return {}
    return {str(k): v for k, v in opts.mapping("queue_headers").items()}


def _tls_context(section: Any) -> ssl.SSLContext | None:
    """A client TLS context from ``amqp.tls``; None leaves amqps:// to system CAs."""
    tls = section.section("tls")
    key, cert, root_ca = tls.string("key"), tls.string("cert"), tls.string("root_ca")
    auth = tls.string("client_auth_type", "no_client_cert") or "no_client_cert"
    if auth not in CLIENT_AUTH_TYPES:
        raise ConfigError(f"amqp.tls.client_auth_type: expected one of "
                          f"{', '.join(CLIENT_AUTH_TYPES)}, got {auth!r}")
    if not (key and cert):
        return None
    for path_key, path in (("key", key), ("cert", cert), ("root_ca", root_ca)):
        if path and not os.path.isfile(path):
            raise ConfigError(f"amqp.tls.{path_key}: file does not exist: {path}")
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=root_ca or None)
    context.load_cert_chain(cert, key)
    return context
