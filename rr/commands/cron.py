"""`rr cron list`: the cron entries with their next fire time (cron.List over RPC)."""

from __future__ import annotations

import argparse
from typing import Any

from rr.commands.common import client_command, subparser
from rr.goridge.rpc import RPCClient


def register(subs: argparse._SubParsersAction, glob: argparse.ArgumentParser) -> None:
    p = subparser(subs, glob, "cron", "The cron entries of a running server with their next "
                  "run", "examples:\n  rr cron list -c .rr.yaml.example\n")
    p.add_argument("action", nargs="?", default="list", choices=["list"],
                   help="list: name, schedule, pipeline, next run (the default)")
    p.set_defaults(func=run)


def cron_table(entries: list[dict[str, Any]]) -> str:
    from rr.commands.jobs import table

    return table(["Name", "Schedule", "Pipeline", "Job", "Overlap", "Next run", "Fired",
                  "Skipped"],
                 [[e["name"], e["schedule"], e["pipeline"], e["job"], e["overlap"],
                   e.get("next_run") or "-", e.get("fired", 0), e.get("skipped", 0)]
                  for e in entries])


def run(args: argparse.Namespace) -> int:
    def show(client: RPCClient) -> int:
        print(cron_table(client.call("cron.List", True) or []))
        return 0

    return client_command(args, show)
