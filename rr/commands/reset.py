"""`rr reset [plugin...]`: rolling restart of worker pools over RPC (rpc-and-cli.md §7.3)."""

from __future__ import annotations

import argparse
import socket
import sys
import threading
import time

from rr.cli import fail
from rr.commands.common import rpc_address, subparser
from rr.errors import ConfigError
from rr.goridge.rpc import RPCClient, RPCClientError, parse_address

# A pool reset waits up to reset_timeout (60 s by default) for busy workers.
RESET_TIMEOUT = 600.0


def register(subs: argparse._SubParsersAction, glob: argparse.ArgumentParser) -> None:
    p = subparser(subs, glob, "reset", "Reset workers of all or specific RoadRunner service")
    p.add_argument("plugins", nargs="*", metavar="plugin", help="plugins to reset (default: all)")
    p.set_defaults(func=run)


def go_log(message: str) -> None:
    """One line the way Go's `log` package prints it: local time, then the text."""
    sys.stderr.write(time.strftime("%Y/%m/%d %H:%M:%S ") + message + "\n")
    sys.stderr.flush()


class DialError(Exception):
    """The RPC server cannot be reached; the text reads like Go's dial errors."""


def dial(address: str, timeout: float = 30.0) -> RPCClient:
    try:
        return RPCClient(address, timeout=timeout)
    except (OSError, ValueError) as e:
        family, addr = _target(address)
        reason = e.strerror.lower() if isinstance(e, OSError) and e.strerror else str(e)
        raise DialError(f"dial {family} {addr}: connect: {reason}") from None


def _target(address: str) -> tuple[str, str]:
    try:
        family, addr = parse_address(address)
    except ValueError:
        return "tcp", address
    if family == socket.AF_UNIX:
        return "unix", str(addr)
    return "tcp", f"{addr[0]}:{addr[1]}"


def run(args: argparse.Namespace) -> int:
    try:
        address = rpc_address(args)
    except ConfigError as e:
        return fail(str(e))
    except OSError as e:
        return fail(str(e))

    plugins: list[str] = list(args.plugins)
    try:
        if not plugins:
            with dial(address) as client:
                plugins = [str(p) for p in client.call("resetter.List", True) or []]
    except DialError as e:
        return fail(str(e))
    except (RPCClientError, OSError) as e:
        return fail(f"failed to get list of plugins: {e}")

    dial_errors: list[str] = []
    lock = threading.Lock()

    def reset_one(name: str) -> None:
        if not args.silent:
            go_log(f"resetting plugin: [{name}] ")
        try:
            with dial(address, RESET_TIMEOUT) as client:
                client.call("resetter.Reset", name)
        except DialError as e:
            with lock:
                dial_errors.append(str(e))
            return
        except (RPCClientError, OSError) as e:
            # RoadRunner stays silent about failed resets and exits 0; we say what failed
            # (still exiting 0, for scripts that rely on it)
            go_log(f"plugin reset error: [{name}]: {e}")
            return
        if not args.silent:
            go_log(f"plugin reset: [{name}]")

    threads = [threading.Thread(target=reset_one, args=(name,), daemon=True) for name in plugins]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if dial_errors:
        return fail(dial_errors[0])
    return 0
