"""`rr jobs`: control pipelines over RPC (jobs.* with the proto codec).

Sub-commands: pause|resume|destroy <p1,p2>, list, stat, dlq list|replay <pipeline>.
RoadRunner's flag form (--list, --pause p1,p2, --resume, --destroy) works as an alias.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rr.cli import fail
from rr.commands.common import rpc_address, subparser
from rr.errors import ConfigError

USAGE = ("usage: rr jobs pause|resume|destroy <p1,p2> | list | stat | "
         "dlq list|replay <pipeline> [--to <pipeline>] [--id <job id>]")


def register(subs: argparse._SubParsersAction, glob: argparse.ArgumentParser) -> None:
    p = subparser(subs, glob, "jobs", "Jobs pipelines control (pause, resume, destroy, list)")
    p.add_argument("words", nargs="*", help="pause|resume|destroy <p1,p2> | list | stat | "
                                            "dlq list|replay <pipeline>")
    p.add_argument("--list", dest="flag_list", action="store_true", help="list pipelines")
    p.add_argument("--pause", dest="flag_pause", metavar="P1,P2", help="pause pipelines")
    p.add_argument("--resume", dest="flag_resume", metavar="P1,P2", help="resume pipelines")
    p.add_argument("--destroy", dest="flag_destroy", metavar="P1,P2",
                   help="destroy pipelines")
    p.add_argument("--to", dest="replay_to", default="",
                   help="dlq replay: target pipeline (default: where each job came from)")
    p.add_argument("--id", dest="replay_id", default="",
                   help="dlq replay: only the job with this ID (default: all of them)")
    p.set_defaults(func=run)


def _names(value: str | list[str]) -> list[str]:
    parts = value if isinstance(value, list) else [value]
    return [n.strip() for part in parts for n in part.split(",") if n.strip()]


def table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(c) for c in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(values: list[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

    sep = "+-" + "-+-".join("-" * w for w in widths) + "-+"
    return "\n".join([sep, line([h.upper() for h in headers]), sep,
                      *(line(r) for r in cells), sep])


def run(args: argparse.Namespace) -> int:
    words: list[str] = list(args.words or [])
    action = ""
    names: list[str] = []
    if args.flag_list:
        action = "list"
    for flag in ("pause", "resume", "destroy"):
        value = getattr(args, f"flag_{flag}")
        if value:
            action, names = flag, _names(value)
    if not action:
        if not words:
            return fail(USAGE)
        action, rest = words[0], words[1:]
        names = _names(rest)
    try:
        address = rpc_address(args)
    except (ConfigError, OSError) as e:
        return fail(str(e))
    import importlib

    from rr.goridge.rpc import RPCClient, RPCClientError

    pb: Any = importlib.import_module("rr.jobs.proto.jobs_pb2")

    try:
        with RPCClient(address) as c:
            if action in ("pause", "resume", "destroy"):
                if not names:
                    return fail(f"rr jobs {action}: no pipelines given\n{USAGE}")
                method = {"pause": "jobs.Pause", "resume": "jobs.Resume",
                          "destroy": "jobs.Destroy"}[action]
                reply = c.call_proto(method, pb.Pipelines(pipelines=names), pb.Pipelines)
                done = list(reply.pipelines) if action == "destroy" else names
                if not args.silent:
                    print(table(["Pipeline(s)"], [[n] for n in done]))
                return 0
            if action == "list":
                print(pipelines_table(c, pb))
                return 0
            if action == "stat":
                stats = c.call_proto("jobs.Stat", pb.Empty(), pb.Stats)
                print(json.dumps([{"pipeline": s.pipeline, "driver": s.driver,
                                   "queue": s.queue, "priority": s.priority,
                                   "active": s.active, "delayed": s.delayed,
                                   "reserved": s.reserved, "ready": s.ready}
                                  for s in stats.stats], indent=2))
                return 0
            if action == "dlq":
                return dlq(c, names, args)
    except RPCClientError as e:
        return fail(str(e))
    except OSError as e:
        return fail(f"rpc: {e}")
    return fail(f"unknown jobs command: {action}\n{USAGE}")


def pipelines_table(c: Any, pb: Any) -> str:
    names = list(c.call_proto("jobs.List", pb.Empty(), pb.Pipelines).pipelines)
    stats = {s.pipeline: s for s in c.call_proto("jobs.Stat", pb.Empty(), pb.Stats).stats}
    rows = []
    for name in sorted(names):
        s = stats.get(name)
        if s is None:
            rows.append([name, "-", "-", "-", "-", "-", "-", "-"])
        else:
            rows.append([name, s.driver, s.queue, s.priority, s.active, s.delayed,
                         s.reserved, "ready" if s.ready else "paused"])
    out = table(["Pipeline", "Driver", "Queue", "Priority", "Active", "Delayed", "Reserved",
                 "Status"], rows)
    try:
        entries = c.call("cron.List", True)
    except Exception:  # noqa: BLE001 - cron not enabled
        entries = None
    if entries:
        from rr.commands.cron import cron_table

        out += "\n\nCron entries:\n" + cron_table(entries)
    return out


def dlq(c: Any, words: list[str], args: argparse.Namespace) -> int:
    if len(words) != 2 or words[0] not in ("list", "replay"):
        return fail(USAGE)
    sub, pipeline = words
    if sub == "list":
        items = c.call("jobs.dlq_list", {"pipeline": pipeline})
        print(table(["ID", "Job", "From", "Attempts", "Reason"],
                    [[i["id"], i["job"], i["from"], i["attempts"], i["reason"][:60]]
                     for i in items]))
        return 0
    result = c.call("jobs.dlq_replay", {"pipeline": pipeline, "to": args.replay_to,
                                         "id": args.replay_id})
    if not args.silent:
        print(f"replayed {result['replayed']} job(s) from {pipeline}")
    for f in result.get("failed", []):
        sys.stderr.write(f"not replayed: {f}\n")
    return 0 if not result.get("failed") else 1
