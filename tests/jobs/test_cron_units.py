"""Cron schedule parsing (no server)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rr.errors import ConfigError
from rr.jobs.cron import parse_schedule


def nxt(schedule: str, after: datetime) -> datetime:
    trig = parse_schedule(schedule, "UTC", "cron.jobs.x.schedule")
    return trig.get_next_fire_time(None, after)


T0 = datetime(2026, 1, 5, 10, 0, 0, tzinfo=UTC)  # a Monday


def test_six_fields_have_seconds() -> None:
    assert nxt("*/5 * * * * *", T0.replace(second=1)) == T0.replace(second=5)


def test_five_fields_are_crontab() -> None:
    assert nxt("*/15 * * * *", T0.replace(minute=1)) == T0.replace(minute=15)


def test_crontab_weekday_numbers_mean_sunday_zero() -> None:
    # 0 = Sunday in crontab (APScheduler would read 0 as Monday)
    assert nxt("0 9 * * 0", T0).weekday() == 6
    assert nxt("0 9 * * 1-5", T0.replace(hour=11)).date().isoformat() == "2026-01-06"
    assert nxt("0 9 * * 7", T0).weekday() == 6


def test_macros_and_every() -> None:
    assert nxt("@hourly", T0.replace(minute=30)) == T0.replace(hour=11, minute=0)
    assert nxt("@every 10s", T0) is not None


@pytest.mark.parametrize("bad", ["* * *", "61 * * * *", "@every -1s", "x y z a b"])
def test_bad_schedules(bad: str) -> None:
    with pytest.raises(ConfigError, match="cron.jobs.x.schedule: invalid schedule"):
        parse_schedule(bad, "UTC", "cron.jobs.x.schedule")
