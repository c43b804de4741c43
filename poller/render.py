"""Rendering for people, one entry point: notification tables, diff reports (table, json,
markdown, html), entity views and plain tables. The formats live in ``poller/report/``.

Pure text from values; never reads the database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any

import orjson

from poller.report import html, markdown, model, text
from poller.report.model import Period
from poller.report.text import change_summary, notifications_table, table

__all__ = [
    "FORMATS", "Period", "change_summary", "diff_report", "entity_view", "history_report", "json_text", "notifications_table",
    "table", "totals",
]

FORMATS = ("table", "json", "markdown", "html")


def json_text(value: Any) -> str:
    """``value`` as indented JSON (the ``--format json`` of listing commands); times as ISO-8601."""
    return orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str).decode()


def totals(notes: Sequence[Mapping[str, Any]]) -> str:
    """"3 created, 2 updated, 1 deleted" for a list of notifications."""
    return model.totals(notes)


def diff_report(
    notes: Sequence[Mapping[str, Any]], fmt: str, title: str, *, start: datetime | None = None,
    end: datetime | None = None, tz: tzinfo = UTC, fold_initial: bool = True,
) -> str:
    """The diff report in ``fmt`` (table, json, markdown, html) over ``start``..``end`` shown in ``tz``.

    First-load creates are folded into one line per source and type unless ``fold_initial``
    is false; json always carries every notification as recorded.
    """
    if fmt == "json":
        return orjson.dumps(list(notes), option=orjson.OPT_INDENT_2).decode()
    period = Period(title, start, end, tz)
    if fmt == "markdown":
        return markdown.diff_report(notes, period, fold_initial=fold_initial)
    if fmt == "html":
        return html.diff_report(notes, period, fold_initial=fold_initial)
    return text.diff_report(notes, period, fold_initial=fold_initial)


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
        return markdown.diff_report(notes, period, fold_initial=False)
    if fmt == "html":
        return html.diff_report(notes, period, fold_initial=False)
    return text.history_report(notes, period)


def entity_view(view: Mapping[str, Any], fmt: str, *, tz: tzinfo = UTC) -> str:
    """``poller show``: one entity as the baseline holds it, as text or JSON."""
    if fmt == "json":
        return orjson.dumps(dict(view), option=orjson.OPT_INDENT_2).decode()
    return text.entity_view(view, tz)
