"""What people ask about the configured sources: their health and whether the config holds.

Read-only: builds collectors and sinks to validate them, never lists a cloud.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from baseline.store import Store
from collectors.errors import CollectorError
from poller.config import Config, SourceConfig
from poller.errors import ConfigError, SinkError
from poller.notify.registry import build_sink

SOURCE_HEADERS = ("SOURCE", "COLLECTOR", "ENABLED", "SCHEDULE", "LAST RUN", "STATUS", "DURATION", "ENTITIES", "CHANGES", "NEXT RUN")


def schedule_text(source: SourceConfig) -> str:
    """``every 5m`` or ``cron */10 * * * *``."""
    if source.cron:
        return f"cron {source.cron}"
    seconds = source.interval or 0
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"every {int(seconds // size)}{unit}"
    return f"every {seconds:g}s"


def source_rows(config: Config, store: Store) -> list[tuple[Any, ...]]:
    """One row per configured source (see SOURCE_HEADERS)."""
    counts = store.counts()
    rows = []
    for src in config.sources:
        runs = store.runs(src.name, limit=1)
        entities = sum(n for (s, _t), n in counts.items() if s == src.name)
        upcoming = next_run_text(src, runs[0].started_at if runs else None)
        if runs:
            run = runs[0]
            duration = f"{(run.finished_at - run.started_at).total_seconds():.1f}s" if run.finished_at else "-"
            summary = orjson.loads(run.summary) if run.summary else {}
            changes = sum(t["created"] + t["updated"] + t["deleted"] for t in summary.get("types", []))
            rows.append((src.name, src.collector, src.enabled, schedule_text(src),
                         f"{run.started_at:%Y-%m-%d %H:%M:%S}", run.status, duration, entities, changes, upcoming))
        else:
            rows.append((src.name, src.collector, src.enabled, schedule_text(src), "never", "-", "-", entities, "-", upcoming))
    return rows


def next_run_text(source: SourceConfig, last_started: datetime | None, at: datetime | None = None) -> str:
    """When the service runs the source next, computed from its schedule.

    A cron source: the expression's next time (UTC). An interval source: the last run's
    start plus the interval, ``due`` when that is past, ``at start`` before any run.
    Jitter is not included; ``-`` for a disabled source.
    """
    from poller.service.scheduler import next_fire

    if not source.enabled:
        return "-"
    moment = at or now()
    fire = next_fire(source, moment, last_started)
    if fire is None:
        return "at start" if source.run_at_start else "-"
    if fire <= moment:
        return "due"
    return f"{fire:%Y-%m-%d %H:%M:%S}"


def check(config: Config) -> list[str]:
    """Validate collectors' options and sinks (no network I/O); raise on the first problem."""
    from poller.events import events_config
    from poller.run.snapshot import build_collector

    events_config(config)  # raises ConfigError naming events.<key>
    lines = [f"{config.path}: configuration is valid"]
    for src in config.sources:
        try:
            collector = build_collector(src)
        except CollectorError as exc:
            raise ConfigError(f"{config.path}: {exc}") from None
        collector.close()
        lines.append(f"source {src.name}: collector {src.collector}, {schedule_text(src)}"
                     + ("" if src.enabled else " (disabled)"))
    for sink_config in config.notify.sinks:
        try:
            build_sink(sink_config).close()
        except SinkError as exc:
            raise ConfigError(f"{config.path}: {exc}") from None
        lines.append(f"sink {sink_config.name}: {sink_config.type}")
    return lines


def now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)
