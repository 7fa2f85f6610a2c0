"""`rr jobs`: push jobs and control pipelines over RPC (jobs.* with the proto codec).

Sub-commands: push <pipeline> <payload>, list, stat, pause|resume|destroy <p1,p2>,
dlq list|replay <pipeline>. RoadRunner's flag form (--list, --pause p1,p2, --resume,
--destroy) works as an alias.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import uuid
from typing import Any

from rr.cli import fail
from rr.commands.common import client_command, subparser
from rr.goridge.rpc import RPCClient

USAGE = ("usage: rr jobs push <pipeline> <payload> | list | stat | "
         "pause|resume|destroy <p1,p2> | dlq list|replay <pipeline> [--to <pipeline>] "
         "[--id <job id>]")

EXAMPLES = """\
examples:
  rr jobs push default '{"to":"ann"}' --name mail.send -c .rr.yaml.example
  rr jobs list -c .rr.yaml.example       pipelines, their counters and cron entries
  rr jobs pause default,failed           stop consuming (pushes are still accepted)
  rr jobs --resume default               RoadRunner's flag form works too
  rr jobs dlq replay failed --to default
"""

PUSH_EXAMPLES = """\
examples:
  rr jobs push default 'hello'                         prints the new job's id
  rr jobs push default '{"to":"ann"}' --name mail.send --delay 60 --priority 1
  rr jobs push default - --header trace=abc --header trace=def < payload.json
"""


def register(subs: argparse._SubParsersAction, glob: argparse.ArgumentParser) -> None:
    p = subparser(subs, glob, "jobs", "Push jobs and control the jobs pipelines of a running "
                  "server (list, stat, pause, resume, destroy, dead letters)", EXAMPLES)
    p.add_argument("--list", dest="flag_list", action="store_true",
                   help="same as `rr jobs list`")
    p.add_argument("--pause", dest="flag_pause", metavar="P1,P2",
                   help="same as `rr jobs pause P1,P2`")
    p.add_argument("--resume", dest="flag_resume", metavar="P1,P2",
                   help="same as `rr jobs resume P1,P2`")
    p.add_argument("--destroy", dest="flag_destroy", metavar="P1,P2",
                   help="same as `rr jobs destroy P1,P2`")
    p.set_defaults(func=run, action="")
    actions = p.add_subparsers(dest="action", metavar="action", title="actions")
    _push_parser(actions, glob)
    subparser(actions, glob, "list", "Pipelines with driver, queue, priority, counters and "
              "state; then the cron entries")
    subparser(actions, glob, "stat", "The pipelines' jobs.Stat as JSON")
    for action, what in (("pause", "Stop consuming (jobs can still be pushed)"),
                         ("resume", "Start consuming again"),
                         ("destroy", "Stop and remove (memory jobs are lost)")):
        a = subparser(actions, glob, action, f"{what}: the pipelines named")
        a.add_argument("pipelines", nargs="*", metavar="P1,P2",
                       help="pipeline names, comma-separated or as separate words")
    d = subparser(actions, glob, "dlq", "Dead letters: list them, or push them back")
    d.add_argument("dlq_action", choices=["list", "replay"], metavar="list|replay",
                   help="list the dead letters, or replay them into a pipeline")
    d.add_argument("dlq_pipeline", metavar="pipeline", help="the dead-letter pipeline")
    d.add_argument("--to", dest="replay_to", default="", metavar="PIPELINE",
                   help="replay: target pipeline (default: where each job came from)")
    d.add_argument("--limit", dest="dlq_limit", type=int, default=0, metavar="N",
                   help="list: at most N dead letters (default: all)")
    d.add_argument("--offset", dest="dlq_offset", type=int, default=0, metavar="N",
                   help="list: skip the first N dead letters")
    d.add_argument("--id", dest="replay_id", default="", metavar="JOB_ID",
                   help="replay: only the job with this id (default: all of them)")


def _push_parser(actions: argparse._SubParsersAction, glob: argparse.ArgumentParser) -> None:
    a = subparser(actions, glob, "push", "Push one job (jobs.Push) and print its id",
                  PUSH_EXAMPLES)
    a.add_argument("pipeline", help="the pipeline to push to (jobs.pipelines.<name>)")
    a.add_argument("payload", help="the job's payload, as given; - reads it from stdin")
    a.add_argument("--name", default="job",
                   help="job name the consumer dispatches on (default: job)")
    a.add_argument("--delay", type=_non_negative, default=0, metavar="S",
                   help="seconds before the job may run (default: 0)")
    a.add_argument("--priority", type=_non_negative, default=0, metavar="P",
                   help="lower runs first; 0 = the pipeline's priority (default)")
    a.add_argument("--header", dest="headers", action="append", default=[],
                   type=_header, metavar="K=V", help="a job header (repeatable; a repeated "
                                                     "key gets several values)")
    a.add_argument("--auto-ack", action="store_true",
                   help="acknowledge on receipt, before the worker runs it (at most once)")


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {value}")
    return value


def _header(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


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


def _action(args: argparse.Namespace) -> tuple[str, list[str]]:
    """The action and its pipeline names, from the sub-command or RoadRunner's flags."""
    if args.flag_list:
        return "list", []
    for flag in ("pause", "resume", "destroy"):
        value = getattr(args, f"flag_{flag}")
        if value:
            return flag, _names(value)
    return args.action or "", _names(list(getattr(args, "pipelines", []) or []))


def run(args: argparse.Namespace) -> int:
    action, names = _action(args)
    if not action:
        return fail(USAGE)
    if action in ("pause", "resume", "destroy") and not names:
        return fail(f"rr jobs {action}: no pipelines given\n{USAGE}")
    payload = b""
    if action == "push":
        payload = (sys.stdin.buffer.read() if args.payload == "-"
                   else args.payload.encode("utf-8"))
    pb: Any = importlib.import_module("rr.jobs.proto.jobs_pb2")

    def body(c: RPCClient) -> int:
        if action == "push":
            return push(c, pb, args, payload)
        if action in ("pause", "resume", "destroy"):
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
        return dlq(c, args)

    return client_command(args, body)


def push(c: RPCClient, pb: Any, args: argparse.Namespace, payload: bytes) -> int:
    """One job, with a fresh UUID as the PHP SDK gives one; the id is the output (also
    under -s: it is the result, not progress)."""
    job = pb.Job(job=args.name, id=str(uuid.uuid4()), payload=payload,
                 options=pb.Options(pipeline=args.pipeline, priority=args.priority,
                                    delay=args.delay, auto_ack=args.auto_ack))
    for key, value in args.headers:
        job.headers[key].value.append(value)
    c.call_proto("jobs.Push", pb.PushRequest(job=job), pb.Empty)
    print(job.id)
    return 0


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


def dlq(c: Any, args: argparse.Namespace) -> int:
    sub, pipeline = args.dlq_action, args.dlq_pipeline
    if sub == "list":
        items = c.call("jobs.dlq_list", {"pipeline": pipeline, "limit": args.dlq_limit,
                                         "offset": args.dlq_offset})
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
