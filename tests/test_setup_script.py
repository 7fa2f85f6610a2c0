"""scripts/setup.sh's own logic, with a stand-in for the venv's interpreter (no network):
the pip step runs once per pyproject.toml, is skipped on a re-run, and a failed install
stops set-up with a message and exit 1 instead of leaving a half-made environment that
looks done."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import ROOT

FAKE_PYTHON = """#!/usr/bin/env bash
echo "$*" >>"$(dirname "$0")/calls"
case "$*" in
  "-m pip "*) exit "$(cat "$(dirname "$0")/pip-rc" 2>/dev/null || echo 0)" ;;
  -V) echo "Python 3.11.99" ;;
esac
exit 0
"""


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    if shutil.which("php") is None:
        pytest.skip("setup.sh would apt-get php-cli")
    (tmp_path / "scripts").mkdir()
    for name in ("setup.sh", "env.sh"):
        shutil.copy(ROOT / "scripts" / name, tmp_path / "scripts" / name)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    return tmp_path


def setup(checkout: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(checkout / "scripts" / "setup.sh")], cwd=checkout,
                          capture_output=True, text=True, timeout=60)


def pip_calls(checkout: Path) -> list[str]:
    calls = checkout / ".venv" / "bin" / "calls"
    lines = calls.read_text().splitlines() if calls.exists() else []
    return [c for c in lines if c.startswith("-m pip ")]


def test_installs_once_per_pyproject(checkout: Path) -> None:
    first = setup(checkout)
    assert first.returncode == 0, first.stderr
    assert pip_calls(checkout) == ["-m pip install --disable-pip-version-check -e .[test]"]
    assert (checkout / ".venv" / ".rr-setup-stamp").exists()

    again = setup(checkout)
    assert (again.returncode, again.stdout, again.stderr) == (0, "", "")
    assert len(pip_calls(checkout)) == 1  # nothing changed: no pip

    with open(checkout / "pyproject.toml", "a") as f:
        f.write("\n# a new dependency\n")
    assert setup(checkout).returncode == 0
    assert len(pip_calls(checkout)) == 2


def test_failed_install_stops_setup(checkout: Path) -> None:
    (checkout / ".venv" / "bin" / "pip-rc").write_text("1")
    result = setup(checkout)
    assert result.returncode == 1
    assert f"setup: pip install into {checkout / '.venv'} failed" in result.stderr
    assert not (checkout / ".venv" / ".rr-setup-stamp").exists()
    # the next run tries again rather than trusting the half-made environment
    (checkout / ".venv" / "bin" / "pip-rc").write_text("0")
    assert setup(checkout).returncode == 0
    assert len(pip_calls(checkout)) == 2
