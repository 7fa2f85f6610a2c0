"""``rr_grpc_*`` series (spec/grpc.md §9); worker gauges come from the pool collector."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from rr.metrics.shared import PerRegistry


@dataclass(frozen=True)
class GrpcMetrics:
    requests: Counter
    duration: Histogram
    queue: Gauge

    def observe(self, method: str, status: str, seconds: float) -> None:
        self.requests.labels(method, status).inc()
        self.duration.labels(method).observe(seconds)


def _make(registry: CollectorRegistry) -> GrpcMetrics:
    return GrpcMetrics(
        requests=Counter("rr_grpc_request_total", "Total number of handled grpc requests "
                         "after server restart.", ["grpc_method", "status_code"],
                         registry=registry),
        duration=Histogram("rr_grpc_request_duration_seconds", "GRPC request duration.",
                           ["grpc_method"], registry=registry),
        queue=Gauge("rr_grpc_requests_queue", "Total number of queued requests.",
                    registry=registry),
    )


grpc_metrics = PerRegistry(_make)
