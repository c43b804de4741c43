"""Triggers built from a source's schedule: intervals, crontab weekdays, periods, next runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from poller.config import SourceConfig
from poller.service.scheduler import build_trigger, crontab_weekdays, next_fire, schedule_period
from poller.service.status import next_run_text

NOW = datetime(2026, 11, 23, 10, 0, 30, tzinfo=UTC)  # a Monday


def src(**kwargs: object) -> SourceConfig:
    return SourceConfig(name="s", collector="static", **kwargs)  # type: ignore[arg-type]


class TestCrontabWeekdays:
    """Crontab day-of-week numbers (0 and 7 = Sunday) become APScheduler day names."""

    @pytest.mark.parametrize(
        ("field", "names"),
        [
            ("*", "*"),
            ("0", "sun"),
            ("7", "sun"),
            ("1-5", "mon,tue,wed,thu,fri"),
            ("0,6", "sun,sat"),
            ("*/2", "sun,tue,thu,sat"),
            ("sat,sun", "sun,sat"),
            ("5-0", "sun,fri,sat"),
        ],
    )
    def test_translation(self, field: str, names: str) -> None:
        """Each crontab field maps to the same days by name."""
        assert crontab_weekdays(field) == names

    def test_sunday_job_fires_on_sunday(self) -> None:
        """`0 6 * * 0` fires on a Sunday, not on APScheduler's day 0 (Monday)."""
        fire = build_trigger(src(cron="0 6 * * 0")).get_next_fire_time(None, NOW)
        assert fire is not None and fire.strftime("%A") == "Sunday" and fire.hour == 6

    def test_bad_day_is_an_error(self) -> None:
        """A weekday that is neither a number 0-7 nor a name raises ValueError."""
        with pytest.raises(ValueError):
            crontab_weekdays("9")


class TestTriggers:
    """build_trigger, schedule_period and next_fire."""

    def test_interval_trigger_carries_jitter(self) -> None:
        """An interval source gets an IntervalTrigger of its interval with its jitter."""
        trigger = build_trigger(src(interval=90.0, jitter=5.0))
        assert isinstance(trigger, IntervalTrigger) and trigger.interval == timedelta(seconds=90) and trigger.jitter == 5.0

    def test_cron_trigger_in_utc(self) -> None:
        """A cron source gets a CronTrigger evaluated in UTC."""
        trigger = build_trigger(src(cron="*/10 * * * *"))
        assert isinstance(trigger, CronTrigger) and trigger.get_next_fire_time(None, NOW) == NOW.replace(minute=10, second=0)

    def test_interval_period_includes_jitter(self) -> None:
        """The period of an interval source is its interval plus its jitter."""
        assert schedule_period(src(interval=60.0, jitter=10.0), NOW) == 70.0

    def test_cron_period_is_longest_gap(self) -> None:
        """A weekday-morning cron's period is its longest gap (the weekend), not a day."""
        assert schedule_period(src(cron="0 6 * * 1-5"), NOW) == 3 * 86400

    def test_next_fire_of_interval_follows_last_start(self) -> None:
        """An interval source's next run is its last start plus the interval."""
        assert next_fire(src(interval=300.0), NOW, NOW) == NOW + timedelta(minutes=5)


class TestNextRunText:
    """The NEXT RUN column of `poller sources`."""

    def test_cron_next_time(self) -> None:
        """A cron source shows the expression's next time."""
        assert next_run_text(src(cron="0 12 * * *"), None, NOW) == "2026-11-23 12:00:00"

    def test_interval_overdue_is_due(self) -> None:
        """An interval source whose last start plus interval has passed shows `due`."""
        assert next_run_text(src(interval=60.0), NOW - timedelta(minutes=5), NOW) == "due"

    def test_never_run_runs_at_start(self) -> None:
        """An interval source that never ran shows `at start`."""
        assert next_run_text(src(interval=60.0), None, NOW) == "at start"

    def test_disabled_has_no_next_run(self) -> None:
        """A disabled source shows `-`."""
        assert next_run_text(src(interval=60.0, enabled=False), None, NOW) == "-"
