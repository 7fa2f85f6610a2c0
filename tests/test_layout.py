"""The checkout is what runs: rr and its drivers import from this checkout, in one spelling.

The drivers live in the repository folder drivers/ and install as ``rr.drivers`` (through
the rr/drivers symlink), never as a top-level ``drivers`` package that another project's
``drivers`` could shadow or be shadowed by.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT, rr_env

OLD_SPELLING = re.compile(r"^\s*(from drivers[. ]|import drivers\b)|[\"']drivers\.[a-z_]+[\"']",
                          re.MULTILINE)


def test_rr_subprocesses_import_this_checkout(tmp_path: Path) -> None:
    """What RRProcess and run_cli start, from a foreign working directory."""
    code = "import rr, rr.drivers.memory as m; print(rr.__file__); print(m.__file__)"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=rr_env(),
                         capture_output=True, text=True, timeout=60, check=True).stdout
    rr_file, driver_file = (Path(line).resolve() for line in out.split())
    assert rr_file == ROOT / "rr" / "__init__.py"
    assert driver_file == ROOT / "drivers" / "memory.py"


def test_drivers_folder_is_rr_drivers() -> None:
    link = ROOT / "rr" / "drivers"
    assert link.is_symlink() and link.resolve() == ROOT / "drivers"


def test_one_import_spelling_for_drivers() -> None:
    """`from drivers.x import …` would load a second copy of every driver module (and
    fails once installed): it is `from rr.drivers.x import …` everywhere."""
    offenders = []
    for folder in ("rr", "drivers", "tests", "bench"):
        for path in (ROOT / folder).rglob("*.py"):
            if folder == "rr" and path.is_relative_to(ROOT / "rr" / "drivers"):
                continue
            text = path.read_text(encoding="utf-8")
            for m in OLD_SPELLING.finditer(text):
                line = text.count("\n", 0, m.start()) + 1
                offenders.append(f"{path.relative_to(ROOT)}:{line}: {m.group(0).strip()}")
    assert not offenders, ("import the drivers as rr.drivers:\n" + "\n".join(offenders))


def test_free_port_is_never_handed_to_two_processes_of_a_run(tmp_path: Path) -> None:
    """What two xdist workers do: the ports one process handed out are refused to the
    other (the kernel may give both the same ephemeral port one after the other)."""
    from tests import helpers

    code = "from tests.helpers import free_port; print(*(free_port() for _ in range(200)))"
    env = {**rr_env(), "RR_TEST_PORTS_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=60, check=True).stdout
    theirs = {int(p) for p in out.split()}
    assert len(theirs) == 200
    old = os.environ.get("RR_TEST_PORTS_DIR")
    os.environ["RR_TEST_PORTS_DIR"] = str(tmp_path)
    try:
        assert not any(helpers._claim(port) for port in theirs)
        mine = {helpers.free_port() for _ in range(200)}
    finally:
        if old is None:
            del os.environ["RR_TEST_PORTS_DIR"]
        else:
            os.environ["RR_TEST_PORTS_DIR"] = old
    assert not mine & theirs
