"""`rr stop [-f]`: SIGTERM the server whose pid `rr serve -p` wrote to ./.pid (§7.5)."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import time
from pathlib import Path

from rr.cli import fail
from rr.commands.common import subparser
from rr.commands.reset import go_log

PID_HINT = ", to create a .pid file, you must run RR with the following options: './rr serve -p'"


def register(subs: argparse._SubParsersAction, glob: argparse.ArgumentParser) -> None:
    p = subparser(subs, glob, "stop", "SIGTERM the server that `rr serve -p` started (pid "
                  "from ./.pid)", """\
examples:
  rr serve -p -c .rr.yaml.example &   (writes .pid beside the config)
  rr stop -c .rr.yaml.example         graceful stop; -f forces it after 1 s
""")
    p.set_defaults(func=run)


def _enter_workdir(args: argparse.Namespace) -> None:
    """Where `rr serve` ran: -w, else the directory of the config file."""
    if args.workdir:
        os.chdir(args.workdir)
    elif args.config:
        directory = Path(args.config).absolute().parent
        if directory.is_dir():
            os.chdir(directory)


def run(args: argparse.Namespace) -> int:
    try:
        _enter_workdir(args)
    except OSError as e:
        return fail(f"chdir {e.filename}: {(e.strerror or str(e)).lower()}")
    try:
        text = Path(".pid").read_text()
    except OSError as e:
        reason = (e.strerror or str(e)).lower()
        return fail(f"open .pid: {reason}{PID_HINT}")
    try:
        pid = int(text.strip())
    except ValueError:
        return fail(f".pid: expected a process id, got {text.strip()!r}{PID_HINT}")
    if pid <= 0:
        return fail(f".pid: expected a process id, got {pid}{PID_HINT}")
    if not args.silent:
        go_log(f"stopping process with PID: {pid}")
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return fail(f"os: process {pid} is not running (stale .pid file)")
    except PermissionError:
        return fail(f"os: not allowed to signal process {pid}")
    if args.force:
        time.sleep(1.0)
        # the second signal forces the exit; the server may already be gone
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    return 0
