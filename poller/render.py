"""Rendering for people, one entry point: notification tables, diff reports (table, json,
markdown, html), entity views and plain tables. The formats live in ``poller/report/``.

Pure text from values; never reads the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any

import orjson

from poller.report import html, markdown, model, text
from poller.report.model import Period
from poller.report.text import change_summary, notifications_table, table

__all__ = [
    "FORMATS", "Period", "change_summary", "diff_report", "diff_report_chunks", "entity_view", "history_report",
    "json_text", "notifications_table", "table", "totals",
]

FORMATS = ("table", "json", "markdown", "html")


def json_text(value: Any) -> str:
    """``value`` as indented JSON (the ``--format json`` of listing commands); times as ISO-8601."""
    return orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str).decode()


def totals(notes: Sequence[Mapping[str, Any]]) -> str:
    """"3 created, 2 updated, 1 deleted" for a list of notifications."""
    return model.totals(notes)


def diff_report(
    notes: Iterable[Mapping[str, Any]], fmt: str, title: str, *, start: datetime | None = None,
    end: datetime | None = None, tz: tzinfo = UTC, fold_initial: bool = True,
) -> str:
    """The diff report in ``fmt`` (table, json, markdown, html) over ``start``..``end`` shown in ``tz``.

    First-load creates are folded into one line per source and type unless ``fold_initial``
    is false; json always carries every notification as recorded.
    """
    return "".join(diff_report_chunks(notes, fmt, title, start=start, end=end, tz=tz, fold_initial=fold_initial))


def diff_report_chunks(
    notes: Iterable[Mapping[str, Any]], fmt: str, title: str, *, start: datetime | None = None,
    end: datetime | None = None, tz: tzinfo = UTC, fold_initial: bool = True,
) -> Iterator[str]:
    """``diff_report`` as pieces of text, reading ``notes`` once as a stream.

    json streams one notification at a time; the other formats keep the real changes and
    a bounded sample of each first load, never a whole first load of a million entities.
    """
    if fmt == "json":
        yield "["
        for index, note in enumerate(notes):
            yield ("\n" if index == 0 else ",\n") + orjson.dumps(note, option=orjson.OPT_INDENT_2).decode()
        yield "\n]"
        return
    data = model.collect(notes, fold_initial=fold_initial, keep=html.MAX_LISTED)
    period = Period(title, start, end, tz)
    if fmt == "markdown":
        yield markdown.diff_report(data, period)
    elif fmt == "html":
        yield html.diff_report(data, period)
    else:
        yield text.diff_report(data, period)


def history_report(
    notes: Sequence[Mapping[str, Any]], fmt: str, title: str, *, remark: str | None = None, tz: tzinfo = UTC,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """One entity's recorded changes, oldest first, in ``fmt`` (table, json, markdown, html).

    json is an object: ``extra`` fields, ``remark`` and ``changes`` (the notifications as recorded).
    """
    if fmt == "json":
        body = {**(extra or {}), "remark": remark, "changes": list(notes)}
        return orjson.dumps(body, option=orjson.OPT_INDENT_2).decode()
    period = Period(title, None, None, tz, remark)
    if fmt == "markdown":
        return markdown.diff_report(model.collect(notes, fold_initial=False), period)
    if fmt == "html":
        return html.diff_report(model.collect(notes, fold_initial=False), period)
    return text.history_report(notes, period)


def entity_view(view: Mapping[str, Any], fmt: str, *, tz: tzinfo = UTC) -> str:
    """``poller show``: one entity as the baseline holds it, as text or JSON."""
    if fmt == "json":
        return orjson.dumps(dict(view), option=orjson.OPT_INDENT_2).decode()
    return text.entity_view(view, tz)


def sink_status_table(rows: Sequence[Any]) -> str:
    """``notifications status`` as a table: one row per durable sink (poller.notify.admin.SinkStatus)."""
    return table(
        ("SINK", "TYPE", "CURSOR", "BACKLOG", "OLDEST PENDING", "FAILURES", "PARKED", "FIRST PARKED", "LAST ERROR"),
        [
            (r.sink, r.kind, r.position, r.backlog, r.oldest_pending or "-", r.failures, r.parked,
             r.first_parked or "-", r.last_error or r.parked_error or "")
            for r in rows
        ],
    )
