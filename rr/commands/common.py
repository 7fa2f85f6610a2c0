"""Helpers shared by the RPC client commands (reset, workers, jobs, cron).

Every client command reaches rr the same way (`client_command`): the config gives the
address, and each failure has one wording in every command — no `rpc` section, rr not
reachable (with the address and the likely cause), the connection lost mid-call, or the
server's own error text.
"""

from __future__ import annotations

import argparse
import os
import socket
from collections.abc import Callable
from pathlib import Path

from rr.config import Config
from rr.errors import ConfigError
from rr.goridge.frame import FrameError
from rr.goridge.rpc import RPCClient, RPCClientError, parse_address

NO_RPC = ("rpc service not specified in the configuration. Tip: add\n rpc:\n\r listen: "
          "rr_rpc_address")
DEFAULT_RPC = "tcp://127.0.0.1:6001"


def load_config(args: argparse.Namespace) -> Config:
    """Apply -w / chdir, --dotenv, -o and includes exactly like `rr serve` does."""
    from rr.configload import load_config as _load

    if args.workdir:
        os.chdir(args.workdir)
    path = Path(args.config)
    if not args.config:
        raise ConfigError("no configuration file provided")
    path = path.absolute()
    if not args.workdir:
        os.chdir(path.parent)
    return _load(str(path), list(args.override or []), dotenv=args.dotenv,
                 experimental=bool(args.experimental))


def rpc_address(args: argparse.Namespace) -> str:
    cfg = load_config(args)
    if not cfg.has("rpc"):
        raise ConfigError(NO_RPC)
    return cfg.string("rpc.listen", DEFAULT_RPC) or DEFAULT_RPC


class Unreachable(Exception):
    """rr cannot be reached at the configured address; the text names the address, the
    likely cause and Go's dial error (`dial tcp 127.0.0.1:6001: connect: …`)."""


def dial(address: str, timeout: float = 30.0) -> RPCClient:
    try:
        return RPCClient(address, timeout=timeout)
    except (OSError, ValueError) as e:
        family, addr = _target(address)
        reason = e.strerror.lower() if isinstance(e, OSError) and e.strerror else str(e)
        raise Unreachable(
            f"cannot reach rr at {address} (is `rr serve` running with rpc.listen: "
            f"{address}?): dial {family} {addr}: connect: {reason}") from None


def _target(address: str) -> tuple[str, str]:
    try:
        family, addr = parse_address(address)
    except ValueError:
        return "tcp", address
    if family == socket.AF_UNIX:
        return "unix", str(addr)
    return "tcp", f"{addr[0]}:{addr[1]}"


def lost(address: str, error: Exception) -> str:
    return f"connection to rr at {address} failed: {error}"


def client_command(args: argparse.Namespace, body: Callable[[RPCClient], int],
                   timeout: float = 30.0) -> int:
    """Resolve the address, connect, run ``body`` and turn every failure into one
    bold-red line on stderr and exit code 1."""
    from rr.cli import fail

    try:
        address = rpc_address(args)
    except (ConfigError, OSError) as e:
        return fail(str(e))
    try:
        with dial(address, timeout) as client:
            return body(client)
    except Unreachable as e:
        return fail(str(e))
    except RPCClientError as e:
        return fail(str(e))
    except (OSError, FrameError) as e:
        return fail(lost(address, e))


def subparser(subs: argparse._SubParsersAction, glob: argparse.ArgumentParser, name: str,
              help: str, epilog: str | None = None) -> argparse.ArgumentParser:  # noqa: A002
    """A sub-command that also takes the global flags; ``help`` is its one-line summary
    in `rr --help`, ``epilog`` its examples."""
    return subs.add_parser(  # type: ignore[no-any-return]
        name, parents=[glob], help=help, description=help, epilog=epilog, allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter)
