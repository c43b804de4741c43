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
    """``every 5m``, ``every 1h30m`` or ``cron */10 * * * *``."""
    from collectors.durations import format_duration

    if source.cron:
        return f"cron {source.cron}"
    return f"every {format_duration(source.interval or 0)}"


def source_records(config: Config, store: Store) -> list[dict[str, Any]]:
    """One record per configured source, with typed values (``sources --format json``).

    Reads the store only: no collector is built and no secret is needed.
    """
    counts = store.counts()
    records = []
    for src in config.sources:
        runs = store.runs(src.name, limit=1)
        run = runs[0] if runs else None
        changes = None
        if run is not None and run.summary:
            summary = orjson.loads(run.summary)
            changes = sum(t["created"] + t["updated"] + t["deleted"] for t in summary.get("types", []))
        records.append({
            "source": src.name,
            "collector": src.collector,
            "enabled": src.enabled,
            "schedule": schedule_text(src),
            "interval_s": None if src.cron else src.interval,
            "cron": src.cron,
            "last_run": None if run is None else _iso(run.started_at),
            "run_id": None if run is None else run.id,
            "status": None if run is None else run.status,
            "duration_s": None if run is None or run.finished_at is None
            else round((run.finished_at - run.started_at).total_seconds(), 3),
            "entities": sum(n for (s, _t), n in counts.items() if s == src.name),
            "changes": changes,
            "next_run": next_run_text(src, run.started_at if run else None),
        })
    return records


def source_rows(records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Table rows (see SOURCE_HEADERS) from ``source_records``."""
    rows = []
    for r in records:
        last = "never" if r["last_run"] is None else r["last_run"][:19].replace("T", " ")
        duration = "-" if r["duration_s"] is None else f"{r['duration_s']:.1f}s"
        rows.append((r["source"], r["collector"], r["enabled"], r["schedule"], last, r["status"] or "-", duration,
                     r["entities"], "-" if r["changes"] is None else r["changes"], r["next_run"]))
    return rows


def _iso(moment: datetime) -> str:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


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


def check(config: Config) -> tuple[list[str], list[str]]:
    """Validate ``baseline.url``, events, every enabled source's collector and every sink,
    without network I/O. Returns (lines describing what was checked, every problem found).

    Disabled sources are listed, not built: their secrets and options are not demanded.
    """
    from baseline.errors import BaselineError
    from baseline.store import check_url
    from poller.events import events_config
    from poller.run.snapshot import build_collector

    lines: list[str] = []
    problems: list[str] = []

    def problem(exc: Exception) -> None:
        text = str(exc)
        problems.append(text if text.startswith(f"{config.path}:") else f"{config.path}: {text}")

    try:
        check_url(config.baseline.url)
        lines.append(f"baseline: {redacted_url(config.baseline.url)}")
    except BaselineError as exc:
        problem(exc)
    try:
        events_config(config)  # raises ConfigError naming events.<key>
    except ConfigError as exc:
        problem(exc)
    for src in config.sources:
        if not src.enabled:
            lines.append(f"source {src.name}: collector {src.collector}, disabled (not checked)")
            continue
        try:
            collector = build_collector(src)
        except (CollectorError, ConfigError) as exc:
            problem(exc)
            continue
        try:
            found = collector.preflight()
        finally:
            collector.close()
        for text in found:
            problems.append(f"{config.path}: {text}")
        lines.append(f"source {src.name}: collector {src.collector}, {schedule_text(src)}")
    for sink_config in config.notify.sinks:
        try:
            build_sink(sink_config).close()
        except (SinkError, ConfigError) as exc:
            problem(exc)
            continue
        lines.append(f"sink {sink_config.name}: {sink_config.type}")
    return lines, problems


def redacted_url(url: str | None) -> str:
    """``url`` with any password masked (the embedded default when None)."""
    from baseline.store import default_url, redact_url

    return redact_url(url or default_url())


def now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)
