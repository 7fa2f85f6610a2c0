from __future__ import annotations

import os
import shutil
import tempfile

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """The controller (or the only process) makes the directory in which every process of
    this run claims its ports (tests/helpers.free_port); xdist workers inherit it."""
    if not hasattr(config, "workerinput"):
        os.environ["RR_TEST_PORTS_DIR"] = tempfile.mkdtemp(prefix="rr-test-ports-")


def pytest_unconfigure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):
        shutil.rmtree(os.environ.pop("RR_TEST_PORTS_DIR", ""), ignore_errors=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if shutil.which("php") is None:
        skip = pytest.mark.skip(reason="php-cli is not installed")
        for item in items:
            if "php" in item.keywords:
                item.add_marker(skip)
