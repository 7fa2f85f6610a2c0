"""Looking at front processes (``<plugin>.processes`` > 1) from a test: which processes
are the fronts, which front a worker belongs to, and the workers rr lists."""

from __future__ import annotations

import re
import urllib.request
from typing import Any

import psutil

from tests.helpers import RRProcess, rpc


def front_processes(rr: RRProcess, plugin: str) -> list[psutil.Process]:
    """rr's children that are fronts of ``plugin`` (named so in their argv); a child that
    exits while being looked at (a killed front rr reaps) is not one."""
    assert rr.proc is not None
    out = []
    for p in psutil.Process(rr.proc.pid).children():
        try:
            if f"rr.{plugin}.frontchild" in " ".join(p.cmdline()):
                out.append(p)
        except psutil.NoSuchProcess:  # ZombieProcess is one
            continue
    return out


def front_of(worker_pid: int) -> int:
    """A worker is a child of the front that owns it."""
    return psutil.Process(worker_pid).ppid()


def listed_workers(address: str, plugin: str) -> list[dict[str, Any]]:
    return rpc(address, "informer.Workers", plugin)["workers"]  # type: ignore[no-any-return]


def metrics_text(port: int) -> str:
    """rr's one ``/metrics`` (the sum over the fronts)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        return r.read().decode()  # type: ignore[no-any-return]


def series_value(text: str, series: str) -> float:
    m = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
    assert m, text
    return float(m.group(1))
