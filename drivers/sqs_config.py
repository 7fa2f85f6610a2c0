"""Reading the `sqs:` section and an sqs pipeline's options (spec/drivers.md §4.1-4.2)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from rr.errors import ConfigError
from rr.pipeline.driver import PipelineOptions

MAX_VISIBILITY = 43200
MAX_DELAY = 900

# the config file lower-cases keys (viper); SQS wants the AWS spelling back
AWS_ATTRIBUTES = {name.lower(): name for name in (
    "DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod", "Policy",
    "ReceiveMessageWaitTimeSeconds", "VisibilityTimeout", "RedrivePolicy",
    "RedriveAllowPolicy", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds",
    "SqsManagedSseEnabled", "FifoQueue", "ContentBasedDeduplication", "DeduplicationScope",
    "FifoThroughputLimit")}


def _attr_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return json.dumps(v, separators=(",", ":"))
    return str(v)


@dataclass(slots=True)
class SQSPipelineConfig:
    queue: str = "default"
    prefetch: int = 1
    max_in_flight: int = 1
    visibility_timeout: int = 0
    error_visibility_timeout: int = 0
    retain_failed_jobs: bool = False
    wait_time: int = 0
    message_group_id: str = ""
    skip_declaration: bool = False
    attributes: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def fifo(self) -> bool:
        return self.queue.endswith(".fifo")


def parse_pipeline(opts: PipelineOptions) -> SQSPipelineConfig:
    where = f"jobs.pipelines.{opts.name}.config"
    cfg = SQSPipelineConfig(queue=opts.string("queue", "default") or "default")
    prefetch = opts.integer("prefetch", 1)
    # ReceiveMessage takes at most 10; RoadRunner only clamps config-file values and lets a
    # Declare with more fail on every receive, so both origins are clamped here
    cfg.prefetch = min(max(prefetch, 1), 10)
    cfg.max_in_flight = max(opts.integer("max_messages_in_flight", cfg.prefetch), 1)
    cfg.visibility_timeout = opts.integer("visibility_timeout", 0)
    cfg.error_visibility_timeout = opts.integer("error_visibility_timeout", 0)
    for key, value in (("visibility_timeout", cfg.visibility_timeout),
                       ("error_visibility_timeout", cfg.error_visibility_timeout)):
        if not 0 <= value <= MAX_VISIBILITY:
            raise ConfigError(f"{where}.{key}: expected 0..{MAX_VISIBILITY} seconds, "
                              f"got {value}")
    cfg.retain_failed_jobs = opts.boolean("retain_failed_jobs")
    wait_key = "wait_time" if opts.declared else "wait_time_seconds"
    cfg.wait_time = min(max(opts.integer(wait_key, 0), 0), 20)
    cfg.message_group_id = opts.string("message_group_id")
    cfg.skip_declaration = opts.boolean("skip_queue_declaration")
    for name, value in opts.mapping("attributes").items():
        if opts.declared and not isinstance(value, str):
            raise ConfigError(f"{where}.attributes.{name}: expected a string value")
        cfg.attributes[AWS_ATTRIBUTES.get(str(name).lower(), str(name))] = _attr_value(value)
    if cfg.fifo:
        cfg.attributes.setdefault("FifoQueue", "true")  # AWS refuses a .fifo queue without it
    cfg.tags = {str(k): _attr_value(v) for k, v in opts.mapping("tags").items()}
    return cfg
