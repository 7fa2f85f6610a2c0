"""Table and value formatting of `rr workers` (rpc-and-cli.md §7.4)."""

from __future__ import annotations

import pytest

from rr.commands.workers import (
    human_bytes,
    jobs_table,
    relative_time,
    render_table,
    service_table,
    workers_table,
)

NOW = 1_736_935_200.0
W = {"pid": 41827, "status": 1, "numExecs": 1234, "created": int((NOW - 7200) * 1e9),
     "memoryUsage": 31_000_000, "CPUPercent": 0.4249, "command": "php w.php",
     "statusStr": "ready"}


def test_spec_table_shape() -> None:
    assert workers_table([W], colour=False, now=NOW) == (
        "+-------+--------+-------+--------+------+-------------+\n"
        "|  PID  | STATUS | EXECS | MEMORY | CPU% |   CREATED   |\n"
        "+-------+--------+-------+--------+------+-------------+\n"
        "| 41827 | ready  | 1,234 | 31 MB  | 0.42 | 2 hours ago |\n"
        "+-------+--------+-------+--------+------+-------------+\n")


def test_rows_sorted_by_pid_and_coloured_status() -> None:
    rows = [{**W, "pid": 30, "statusStr": "working"}, {**W, "pid": 4, "statusStr": "errored"},
            {**W, "pid": 7, "statusStr": "maxJobsReached"}]
    text = workers_table(rows, colour=True, now=NOW)
    lines = text.splitlines()
    assert lines[3].startswith("| 4 ") and lines[5].startswith("| 30 ")
    assert "\x1b[31merrored\x1b[0m" in lines[3]
    assert "| maxJobsReached |" in lines[4]
    assert "\x1b[32mworking\x1b[0m" in lines[5]
    # colour codes do not count for the column width
    assert len({len(x.replace("\x1b[31m", "").replace("\x1b[32m", "").replace("\x1b[0m", ""))
                for x in lines}) == 1


def test_error_row() -> None:
    text = workers_table([], colour=False, error="boom")
    assert "| 0   | boom   | ERROR | ERROR  | ERROR | ERROR   |" in text


def test_service_and_jobs_tables() -> None:
    assert "| PID | MEMORY | CPU% |  COMMAND  |" in service_table([{**W, "pid": 1}])
    text = jobs_table([
        {"Pipeline": "b", "Driver": "amqp", "Queue": "q", "Active": 3, "Delayed": 1,
         "Reserved": 0, "Ready": False},
        {"Pipeline": "a", "Driver": "memory", "Queue": "a", "Active": 0, "Delayed": 0,
         "Reserved": 2, "Ready": True},
    ])
    rows = [line for line in text.splitlines() if line.startswith("|")]
    assert rows[0] == ("|     STATUS     | PIPELINE | DRIVER | QUEUE | ACTIVE | DELAYED |"
                       " RESERVED |")
    assert rows[1].startswith("| READY          | a ")
    assert rows[2].startswith("| PAUSED/STOPPED | b ")


@pytest.mark.parametrize("size,text", [(0, "0 B"), (9, "9 B"), (999, "999 B"),
                                       (1000, "1.0 kB"), (1500, "1.5 kB"),
                                       (31_000_000, "31 MB"), (31_457_280, "32 MB"),
                                       (2_000_000_000, "2.0 GB")])
def test_human_bytes(size: int, text: str) -> None:
    assert human_bytes(size) == text


@pytest.mark.parametrize("ago,text", [(0.2, "now"), (1.5, "1 second ago"),
                                      (42, "42 seconds ago"), (90, "1 minute ago"),
                                      (7200, "2 hours ago"), (3 * 86400, "3 days ago"),
                                      (-5, "5 seconds")])
def test_relative_time(ago: float, text: str) -> None:
    assert relative_time(NOW - ago, NOW) == text


def test_centering_odd_gap() -> None:
    assert render_table(["ab"], [["abcde"]]).splitlines()[1] == "|  AB   |"
