"""Helpers shared by the RPC client commands (reset, workers, jobs, cron)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from rr.config import Config
from rr.errors import ConfigError

NO_RPC = ("rpc service not specified in the configuration. Tip: add\n rpc:\n\r listen: "
          "rr_rpc_address")


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
    return cfg.string("rpc.listen", "tcp://127.0.0.1:6001") or "tcp://127.0.0.1:6001"


def subparser(subs: argparse._SubParsersAction, glob: argparse.ArgumentParser, name: str,
              help: str) -> argparse.ArgumentParser:  # noqa: A002
    return subs.add_parser(name, parents=[glob], help=help, description=help)  # type: ignore[no-any-return]
