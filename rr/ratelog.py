"""Log lines that a hostile or broken client cannot turn into a flood.

The first occurrence of a kind of event is logged at once; repeats within ``interval``
seconds are only counted, and the next line that gets through carries that count
(``suppressed``), so the log still tells how often it happened.
"""

from __future__ import annotations

import logging
import time
from typing import Any


class RateLimitedLog:
    MAX_KINDS = 256  # kinds are few and fixed; the bound guards against a caller bug

    def __init__(self, logger: logging.Logger, interval: float = 10.0) -> None:
        self.logger = logger
        self.interval = interval
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def log(self, level: int, kind: str, msg: str, **fields: Any) -> bool:
        """Log ``msg`` with ``fields`` unless ``kind`` was logged within the interval;
        True when the line was written."""
        now = time.monotonic()
        last = self._last.get(kind)
        if last is not None and now - last < self.interval:
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
            return False
        if last is None and len(self._last) >= self.MAX_KINDS:
            self._last.clear()
            self._suppressed.clear()
        self._last[kind] = now
        skipped = self._suppressed.pop(kind, 0)
        if skipped:
            fields["suppressed"] = skipped
        self.logger.log(level, msg, extra={"fields": fields})
        return True

    def warning(self, kind: str, msg: str, **fields: Any) -> bool:
        return self.log(logging.WARNING, kind, msg, **fields)
