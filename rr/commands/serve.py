"""`rr serve`: load the config and run the server."""

from __future__ import annotations

import argparse
import os

from rr.cli import fail
from rr.commands.common import load_config, subparser
from rr.errors import ConfigError


def register(subs: argparse._SubParsersAction, glob: argparse.ArgumentParser) -> None:
    p = subparser(subs, glob, "serve", "Start the server in the foreground (SIGINT/SIGTERM "
                  "stop it gracefully)", """\
examples:
  rr serve -c .rr.yaml.example
  rr serve -o http.address=127.0.0.1:8081 -p     another port; pid to ./.pid
""")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        cfg = load_config(args)
    except ConfigError as e:
        return fail(f"handle_serve_command: {e}")
    except OSError as e:
        return fail(f"handle_serve_command: {e}")
    try:
        from rr.logs import setup_logging
    except ModuleNotFoundError:
        import logging

        logging.basicConfig(level=logging.DEBUG)
    else:
        setup_logging(cfg, silent=args.silent)
    if args.pid:
        with open(".pid", "w") as f:
            f.write(str(os.getpid()))
    from rr.server import run as run_server

    try:
        return run_server(cfg, silent=args.silent)
    except ConfigError as e:
        return fail(f"handle_serve_command: Init error:\n\t{e}")
