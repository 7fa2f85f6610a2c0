"""`rr cron list`: the cron entries with their next fire time (cron.List over RPC)."""

from __future__ import annotations

import argparse
from typing import Any

from rr.cli import fail
from rr.commands.common import rpc_address, subparser
from rr.errors import ConfigError


def register(subs: argparse._SubParsersAction, glob: argparse.ArgumentParser) -> None:
    p = subparser(subs, glob, "cron", "Cron triggers (list)")
    p.add_argument("action", nargs="?", default="list", choices=["list"])
    p.set_defaults(func=run)


def cron_table(entries: list[dict[str, Any]]) -> str:
    from rr.commands.jobs import table

    return table(["Name", "Schedule", "Pipeline", "Job", "Overlap", "Next run", "Fired",
                  "Skipped"],
                 [[e["name"], e["schedule"], e["pipeline"], e["job"], e["overlap"],
                   e.get("next_run") or "-", e.get("fired", 0), e.get("skipped", 0)]
                  for e in entries])


def run(args: argparse.Namespace) -> int:
    try:
        address = rpc_address(args)
    except (ConfigError, OSError) as e:
        return fail(str(e))
    from rr.goridge.rpc import RPCClient, RPCClientError

    try:
        with RPCClient(address) as c:
            entries = c.call("cron.List", True)
    except RPCClientError as e:
        return fail(str(e))
    except OSError as e:
        return fail(f"rpc: {e}")
    print(cron_table(entries or []))
    return 0
