"""`rr workers [-i] [plugin...]`: worker and job pipeline tables (rpc-and-cli.md §7.4).

Layout follows RoadRunner's tables (upper-case centred headers, left-aligned cells,
`+---+` borders); colours only when stdout is a terminal.
"""

from __future__ import annotations

import argparse
import math
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from rr.cli import fail
from rr.commands.common import client_command, subparser
from rr.goridge.rpc import RPCClient, RPCClientError

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_STATUS_COLOURS = {"inactive": "33", "ready": "36", "working": "32", "invalid": "33",
                   "stopped": "31", "errored": "31"}
EXAMPLES = """\
examples:
  rr workers -c .rr.yaml.example      every plugin with workers (informer.List)
  rr workers http -i                  the http pool, redrawn every second
"""
READY = "READY"
PAUSED = "PAUSED/STOPPED"


def register(subs: argparse._SubParsersAction, glob: argparse.ArgumentParser) -> None:
    p = subparser(subs, glob, "workers", "Worker table of every (or the given) plugin and "
                  "the jobs pipelines of a running server", EXAMPLES)
    p.add_argument("plugins", nargs="*", metavar="plugin", help="plugins to show (default: all)")
    p.add_argument("-i", "--interactive", action="store_true",
                   help="redraw the tables every second until Ctrl-C")
    p.set_defaults(func=run)


# ---- formatting -------------------------------------------------------------------------
def paint(text: str, code: str, colour: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if colour else text


def visible_len(text: str) -> int:
    return len(_ANSI.sub("", text))


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """An ASCII table: headers upper-cased and centred, cells left-aligned."""
    heads = [h.upper() for h in headers]
    widths = [visible_len(h) for h in heads]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], visible_len(cell))
    border = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def centre(text: str, width: int) -> str:
        gap = width - visible_len(text)
        return " " * (gap // 2) + text + " " * (gap - gap // 2)

    def left(text: str, width: int) -> str:
        return text + " " * (width - visible_len(text))

    header = " | ".join(centre(h, w) for h, w in zip(heads, widths, strict=True))
    lines = [border, f"| {header} |", border]
    for row in rows:
        lines.append("| " + " | ".join(left(c, w) for c, w in zip(row, widths, strict=True)) + " |")
    lines.append(border)
    return "\n".join(lines) + "\n"


def human_bytes(size: int) -> str:
    """SI units, base 1000: `31 MB`, `1.5 GB`, `999 B`."""
    if size < 10:
        return f"{size} B"
    exp = min(int(math.floor(math.log(size) / math.log(1000))), 6)
    suffix = ("B", "kB", "MB", "GB", "TB", "PB", "EB")[exp]
    value = math.floor(size / 1000 ** exp * 10 + 0.5) / 10
    return f"{value:.1f} {suffix}" if value < 10 else f"{value:.0f} {suffix}"


_SECOND = 1.0
_MINUTE = 60 * _SECOND
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR
_WEEK = 7 * _DAY
_MONTH = 30 * _DAY
_YEAR = 12 * _MONTH
_MAGNITUDES: list[tuple[float, str, float]] = [
    (_SECOND, "now", 0), (2 * _SECOND, "1 second {}", 0), (_MINUTE, "{n} seconds {}", _SECOND),
    (2 * _MINUTE, "1 minute {}", 0), (_HOUR, "{n} minutes {}", _MINUTE),
    (2 * _HOUR, "1 hour {}", 0), (_DAY, "{n} hours {}", _HOUR), (2 * _DAY, "1 day {}", 0),
    (_WEEK, "{n} days {}", _DAY), (2 * _WEEK, "1 week {}", 0), (_MONTH, "{n} weeks {}", _WEEK),
    (2 * _MONTH, "1 month {}", 0), (_YEAR, "{n} months {}", _MONTH),
    (18 * _MONTH, "1 year {}", 0), (2 * _YEAR, "2 years {}", 0),
    (37 * _YEAR, "{n} years {}", _YEAR), (math.inf, "a long while {}", 0),
]


def relative_time(then: float, now: float) -> str:
    """`2 hours ago`, `now`, `3 days ago` (future times lose the `ago`)."""
    diff = now - then
    label = "ago" if diff >= 0 else ""
    diff = abs(diff)
    for limit, fmt, unit in _MAGNITUDES:
        if diff < limit:
            n = int(diff // unit) if unit else 0
            return fmt.replace("{n}", str(n)).format(label).strip()
    return "a long while ago"  # pragma: no cover - math.inf above catches everything


def workers_table(workers: list[dict[str, Any]], colour: bool, now: float | None = None,
                  error: str | None = None) -> str:
    headers = ["PID", "Status", "Execs", "Memory", "CPU%", "Created"]
    if error is not None:
        return render_table(headers, [["0", error, "ERROR", "ERROR", "ERROR", "ERROR"]])
    now = time.time() if now is None else now
    rows = []
    for w in sorted(workers, key=lambda w: int(w.get("pid", 0))):
        status = str(w.get("statusStr", ""))
        code = _STATUS_COLOURS.get(status)
        rows.append([
            str(int(w.get("pid", 0))),
            paint(status, code, colour) if code else status,
            f"{int(w.get('numExecs', 0)):,}",
            human_bytes(int(w.get("memoryUsage", 0))),
            f"{float(w.get('CPUPercent', 0) or 0):.2f}",
            relative_time(int(w.get("created", 0)) / 1e9, now),
        ])
    return render_table(headers, rows)


def service_table(workers: list[dict[str, Any]]) -> str:
    rows = [[str(int(w.get("pid", 0))), human_bytes(int(w.get("memoryUsage", 0))),
             f"{float(w.get('CPUPercent', 0) or 0):.2f}", str(w.get("command", ""))]
            for w in sorted(workers, key=lambda w: int(w.get("pid", 0)))]
    return render_table(["PID", "Memory", "CPU%", "Command"], rows)


def _field(state: dict[str, Any], go_name: str, snake: str) -> Any:
    return state[go_name] if go_name in state else state.get(snake, "")


def jobs_table(states: list[dict[str, Any]], error: str | None = None) -> str:
    headers = ["Status", "Pipeline", "Driver", "Queue", "Active", "Delayed", "Reserved"]
    if error is not None:
        return render_table(headers, [[error] + ["ERROR"] * 6])
    rows = []
    for s in sorted(states, key=lambda s: str(_field(s, "Pipeline", "pipeline"))):
        rows.append([
            READY if _field(s, "Ready", "ready") else PAUSED,
            str(_field(s, "Pipeline", "pipeline")),
            str(_field(s, "Driver", "driver")),
            str(_field(s, "Queue", "queue")),
            str(int(_field(s, "Active", "active") or 0)),
            str(int(_field(s, "Delayed", "delayed") or 0)),
            str(int(_field(s, "Reserved", "reserved") or 0)),
        ])
    return render_table(headers, rows)


# ---- rendering --------------------------------------------------------------------------
def render(client: RPCClient, plugins: list[str], out: TextIO, colour: bool) -> None:
    """Workers of every plugin, then job pipelines; per-plugin RPC errors become tables."""
    for plugin in plugins:
        try:
            reply = client.call("informer.Workers", plugin) or {}
        except RPCClientError as e:
            out.write(workers_table([], colour, error=f"failed to receive information about "
                                                      f"{plugin} plugin: {e}"))
            continue
        workers = reply.get("workers") or []
        if not workers:
            continue
        out.write(f"Workers of [{paint(plugin, '93', colour)}]:\n")
        out.write(service_table(workers) if plugin == "service"
                  else workers_table(workers, colour))
    for plugin in plugins:
        try:
            states = client.call("informer.Jobs", plugin) or []
        except RPCClientError as e:
            out.write(jobs_table([], error=f"failed to receive information about {plugin} "
                                           f"plugin: {e}"))
            continue
        if not states:
            continue
        out.write(f"Jobs of [{paint(plugin, '93', colour)}]:\n")
        out.write(jobs_table(states))
    out.flush()


def _interactive(client: RPCClient, plugins: list[str], out: TextIO, colour: bool) -> None:
    """Redraw every second until SIGINT/SIGTERM."""
    stop = threading.Event()
    previous: dict[int, Callable[..., Any] | int | None] = {}

    def on_signal(_sig: int, _frame: Any) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, on_signal)  # type: ignore[assignment]
    try:
        out.write("\x1b[2J")
        while not stop.wait(1.0):
            out.write("\x1b[1;1H")
            render(client, plugins, out, colour)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]


def run(args: argparse.Namespace) -> int:
    out = sys.stdout
    colour = out.isatty()

    def show(client: RPCClient) -> int:
        plugins: list[str] = list(args.plugins)
        if not plugins:
            try:
                plugins = [str(p) for p in client.call("informer.List", True) or []]
            except RPCClientError as e:
                return fail(f"failed to get list of plugins: {e}")
        try:
            if args.interactive:
                _interactive(client, plugins, out, colour)
            else:
                render(client, plugins, out, colour)
        except BrokenPipeError:
            # stdout closed early (`rr workers | head`): not an RPC problem
            pass
        return 0

    return client_command(args, show)
