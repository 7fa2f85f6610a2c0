"""Per-pipeline retry policy and dead-letter settings (beyond RoadRunner).

RoadRunner has no attempt counting: a failing job is redelivered by the broker forever
(or dropped, for memory). A pipeline may opt in with ``config.retry`` and
``config.dead_letter``; without them, replies the PHP code sends explicitly behave
exactly as in RoadRunner.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from rr.durations import parse_duration
from rr.errors import ConfigError
from rr.pipeline.deadletters import DEAD_LETTER_FROM as DEAD_LETTER_FROM
from rr.pipeline.deadletters import DEAD_LETTER_REASON as DEAD_LETTER_REASON
from rr.pipeline.driver import PipelineOptions
from rr.pipeline.job import Headers

# DEAD_LETTER_FROM/REASON are re-exported: they live with the driver contract because a
# driver sets them too (beanstalk's listed buried jobs).
#: Which delivery of a job the worker is handling: 1 on the first, absent = 1.
ATTEMPT_HEADER = "rr-attempt"


def attempt_of(headers: Headers) -> int:
    values = headers.get(ATTEMPT_HEADER)
    if values:
        try:
            return max(1, int(values[0]))
        except ValueError:
            return 1
    return 1


def _seconds(value: Any, where: str) -> float:
    """Seconds from an int/float (seconds) or a Go duration string ("500ms", "1m")."""
    if value is None or value == "":
        return 0.0
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected seconds or a duration like 10s, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    s = str(value).strip()
    try:
        return float(s)
    except ValueError:
        return parse_duration(s, where)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    #: total deliveries allowed (first one included); 0 = no limit (no policy)
    max_attempts: int = 0
    #: delay before the 2nd attempt, in seconds
    delay: float = 0.0
    #: each further retry waits ``multiplier`` times longer
    multiplier: float = 2.0
    #: upper bound of the delay (0 = none)
    max_delay: float = 0.0

    @property
    def enabled(self) -> bool:
        return self.max_attempts > 0

    def exhausted(self, attempt: int) -> bool:
        return self.enabled and attempt >= self.max_attempts

    def backoff(self, attempt: int) -> int:
        """Delay (whole seconds, rounded up) before the attempt after ``attempt``."""
        if self.delay <= 0:
            return 0
        d = self.delay * (self.multiplier ** max(0, attempt - 1))
        if self.max_delay > 0:
            d = min(d, self.max_delay)
        return int(math.ceil(d))

    @classmethod
    def from_options(cls, options: PipelineOptions) -> RetryPolicy:
        where = f"jobs.pipelines.{options.name}.config.retry"
        raw = options.get("retry")
        if raw is None or raw == "":
            return cls()
        if isinstance(raw, str):  # Declare: JSON text
            try:
                raw = json.loads(raw)
            except ValueError:
                raise ConfigError(f"{where}: expected a JSON object, got {raw!r}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: expected a mapping, got {raw!r}")
        raw = {str(k).lower(): v for k, v in raw.items()}
        try:
            max_attempts = int(raw.get("max_attempts", 0) or 0)
            multiplier = float(raw.get("multiplier", 2.0) or 2.0)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: max_attempts must be an integer and multiplier a "
                              f"number, got {raw!r}") from None
        if max_attempts < 0:
            raise ConfigError(f"{where}.max_attempts: must be >= 0, got {max_attempts}")
        if multiplier < 1:
            raise ConfigError(f"{where}.multiplier: must be >= 1, got {multiplier}")
        delay = _seconds(raw.get("delay", raw.get("backoff")), f"{where}.delay")
        max_delay = _seconds(raw.get("max_delay"), f"{where}.max_delay")
        return cls(max_attempts, delay, multiplier, max_delay)
