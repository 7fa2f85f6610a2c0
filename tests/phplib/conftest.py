from __future__ import annotations

import shutil

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if shutil.which("php") is not None:
        return
    skip = pytest.mark.skip(reason="php-cli is not installed")
    for item in items:
        if "tests/phplib" in str(item.fspath):
            item.add_marker(skip)
