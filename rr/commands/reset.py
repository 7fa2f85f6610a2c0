"""`rr reset [plugin...]`: rolling restart of worker pools over RPC (rpc-and-cli.md §7.3).

RoadRunner logs the progress to stderr; rr prints it to stdout, where a user looks for
the output of a command they ran (-s silences it), and keeps stderr for what failed.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from typing import TextIO

from rr.cli import fail
from rr.commands.common import Unreachable, dial, lost, rpc_address, subparser
from rr.errors import ConfigError
from rr.goridge.frame import FrameError
from rr.goridge.rpc import RPCClientError

# A pool reset waits up to reset_timeout (60 s by default) for busy workers.
RESET_TIMEOUT = 600.0

EXAMPLES = """\
examples:
  rr reset -c .rr.yaml.example        every plugin with workers (resetter.List)
  rr reset http jobs                  only these plugins
"""


def register(subs: argparse._SubParsersAction, glob: argparse.ArgumentParser) -> None:
    p = subparser(subs, glob, "reset", "Rolling restart of the workers of every (or the "
                  "given) plugin of a running server", EXAMPLES)
    p.add_argument("plugins", nargs="*", metavar="plugin", help="plugins to reset (default: all)")
    p.set_defaults(func=run)


def go_log(message: str, out: TextIO | None = None) -> None:
    """One line the way Go's `log` package prints it: local time, then the text."""
    stream = out or sys.stderr
    stream.write(time.strftime("%Y/%m/%d %H:%M:%S ") + message + "\n")
    stream.flush()


def run(args: argparse.Namespace) -> int:
    try:
        address = rpc_address(args)
    except (ConfigError, OSError) as e:
        return fail(str(e))
    plugins: list[str] = list(args.plugins)
    if not plugins:
        try:
            with dial(address) as client:
                plugins = [str(p) for p in client.call("resetter.List", True) or []]
        except Unreachable as e:
            return fail(str(e))
        except RPCClientError as e:
            return fail(f"failed to get list of plugins: {e}")
        except (OSError, FrameError) as e:
            return fail(lost(address, e))

    dial_errors: list[str] = []
    lock = threading.Lock()

    def reset_one(name: str) -> None:
        try:
            client = dial(address, RESET_TIMEOUT)
        except Unreachable as e:
            with lock:
                dial_errors.append(str(e))
            return
        if not args.silent:
            go_log(f"resetting plugin: [{name}] ", sys.stdout)
        try:
            with client:
                client.call("resetter.Reset", name)
        except (RPCClientError, OSError, FrameError) as e:
            # RoadRunner stays silent about failed resets and exits 0; we say what failed
            # (still exiting 0, for scripts that rely on it)
            text = str(e) if isinstance(e, RPCClientError) else lost(address, e)
            go_log(f"plugin reset error: [{name}]: {text}")
            return
        if not args.silent:
            go_log(f"plugin reset: [{name}]", sys.stdout)

    threads = [threading.Thread(target=reset_one, args=(name,), daemon=True) for name in plugins]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if dial_errors:
        return fail(dial_errors[0])
    return 0
