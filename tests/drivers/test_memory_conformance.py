"""The memory driver through the conformance suite (no broker: jobs live in rr)."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from tests.drivers.conformance import DriverConformance

pytestmark = pytest.mark.php


class TestMemoryConformance(DriverConformance):
    driver = "memory"
    durable: ClassVar[bool] = False           # jobs live in rr: a crash of rr loses them
    supports_connection_cut: ClassVar[bool] = False
    supports_auto_ack: ClassVar[bool] = False  # memory ignores auto_ack

    def pipeline_config(self, name: str) -> dict[str, Any]:
        return {"priority": 10, "prefetch": 100}

    def declare_options(self, name: str) -> dict[str, str]:
        return {"prefetch": "10"}
