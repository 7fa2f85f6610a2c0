"""Failures rr itself creates, in Temporal's format (spec/temporal.md §9).

PHP failures are passed through untouched; these are only the ones the Go plugin
synthesises. Every failure carries an info, because PHP cannot decode one without
(``Failure info not set``).
"""

from __future__ import annotations

from temporalio.api.failure.v1 import (
    ApplicationFailureInfo,
    CanceledFailureInfo,
    Failure,
)

SOURCE = "GoSDK"  # what PHP sees from the reference server; kept for compatibility


def application(message: str, type_: str = "Error", non_retryable: bool = False) -> Failure:
    """RoadRunner-side errors (pool, codec) become retryable application failures."""
    return Failure(message=message, source=SOURCE,
                   application_failure_info=ApplicationFailureInfo(
                       type=type_, non_retryable=non_retryable))


def canceled(message: str = "canceled") -> Failure:
    return Failure(message=message, source=SOURCE, canceled_failure_info=CanceledFailureInfo())


def is_canceled(f: Failure) -> bool:
    return f.WhichOneof("failure_info") == "canceled_failure_info"
