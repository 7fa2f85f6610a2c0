"""The `rr` command line (spec/rpc-and-cli.md §7).

Sub-commands live in rr.commands.<name>; each module has ``register(subparsers)`` which
adds its parser and sets ``func`` to a ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys

from rr import __version__

COMMANDS = ["serve", "reset", "workers", "stop", "jobs", "cron"]

#: where rr was started from, before `rr serve` changes into the config's directory
#: (SIGUSR2 re-executes the same command line from here)
ORIGINAL_CWD = os.getcwd()


def version_line() -> str:
    return (f"rr version {__version__} (build time: python, {platform.python_implementation()} "
            f"{platform.python_version()}), OS: {sys.platform}, arch: {platform.machine()}")


class _Version(argparse.Action):
    """Print the version line verbatim (argparse's own action re-wraps it)."""

    def __call__(self, parser: argparse.ArgumentParser, *args: object, **kw: object) -> None:
        sys.stdout.write(version_line() + "\n")
        parser.exit(0)


def global_parser() -> argparse.ArgumentParser:
    """Flags valid for every sub-command (they may stand before or after it)."""
    p = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    g = p.add_argument_group("global flags (valid for every command)")
    g.add_argument("-c", "--config", default=argparse.SUPPRESS, metavar="FILE",
                   help="config file (default: .rr.yaml)")
    g.add_argument("-w", "--WorkDir", "--workdir", dest="workdir", default=argparse.SUPPRESS,
                   metavar="DIR", help="change into DIR first (default: the config's directory)")
    g.add_argument("--dotenv", default=argparse.SUPPRESS, metavar="FILE",
                   help="load FILE's variables first (also $DOTENV_PATH); set ones stay")
    g.add_argument("-o", "--override", action="append", default=argparse.SUPPRESS,
                   metavar="KEY=VALUE", help="override a config value, e.g. -o http.address=:8081"
                                             " (repeatable)")
    g.add_argument("-s", "--silent", action="store_true", default=argparse.SUPPRESS,
                   help="print no progress or informational output")
    g.add_argument("-e", "--enable-experimental", dest="experimental", action="store_true",
                   default=argparse.SUPPRESS, help="enable experimental features")
    g.add_argument("-p", "--pid", action="store_true", default=argparse.SUPPRESS,
                   help="serve: write the server's pid to ./.pid (read by `rr stop`)")
    g.add_argument("-d", "--debug", action="store_true", default=argparse.SUPPRESS,
                   help="accepted for RoadRunner compatibility (Go's pprof server); no effect")
    g.add_argument("-f", "--force", action="store_true", default=argparse.SUPPRESS,
                   help="stop: send a second SIGTERM after 1 s (forced exit)")
    return p


EXAMPLES = """\
examples:
  rr serve -c .rr.yaml.example        start the server (foreground; Ctrl-C stops it)
  rr workers -c .rr.yaml.example      worker tables of every pool
  rr jobs push default '{"to":"ann"}' --name mail.send -c .rr.yaml.example
  rr reset -c .rr.yaml.example        rolling restart of every worker
  rr <command> --help                 flags and examples of one command

The client commands (reset, workers, jobs, cron) talk to a running `rr serve` over the
RPC address of the config's `rpc.listen`, so give them the same -c as the server.
"""


DEFAULTS: dict[str, object] = {
    "config": ".rr.yaml", "workdir": None, "dotenv": None, "override": [], "silent": False,
    "experimental": False, "pid": False, "debug": False, "force": False,
}


def build_parser() -> argparse.ArgumentParser:
    glob = global_parser()
    parser = argparse.ArgumentParser(
        prog="rr", parents=[glob], epilog=EXAMPLES, allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="RoadRunner-compatible PHP application server: keeps PHP workers alive "
                    "for HTTP, jobs and cron, and controls a running server over RPC.")
    parser.add_argument("-v", "--version", action=_Version, nargs=0,
                        help="print the version and exit")
    subs = parser.add_subparsers(dest="command", metavar="command", title="commands")
    for name in COMMANDS:
        try:
            mod = importlib.import_module(f"rr.commands.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"rr.commands.{name}":
                raise
            continue
        mod.register(subs, glob)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for k, v in DEFAULTS.items():
        if not hasattr(args, k):
            setattr(args, k, v)
    if not args.dotenv and os.environ.get("DOTENV_PATH"):
        args.dotenv = os.environ["DOTENV_PATH"]
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 1
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        return 1


def fail(message: str) -> int:
    """Errors are printed bold red to stderr; exit code 1 (as RoadRunner's cobra CLI)."""
    if sys.stderr.isatty():
        sys.stderr.write(f"\x1b[1;31m{message}\x1b[0m\n")
    else:
        sys.stderr.write(message + "\n")
    return 1
