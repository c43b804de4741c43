"""The Markdown diff report: period, summary per source and type, the changes, first
loads folded per type, and every changed field of every update.

Untrusted text (names, keys, values) is escaped so it stays text in any renderer:
HTML special characters as entities, Markdown punctuation with backslashes, control
characters shown as escapes, ``|`` never ending a cell. Never reads the database.
"""

from __future__ import annotations

import re
from typing import Any

from poller.report import model
from poller.report.model import Period
from poller.report.text import period_line

_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}
# Inside a table cell only these act: emphasis, code spans, links, cell ends, strikethrough, autolinks.
_PUNCTUATION = re.compile(r"([\\`*_\[\]|~:])")


def md(value: Any, width: int | None = None) -> str:
    """Untrusted text made inert for Markdown (and the HTML a Markdown renderer passes through)."""
    text = model.value_text(value)
    if width is not None:
        text = model.short(text, width)
    text = "".join(_ENTITIES.get(ch, ch) for ch in text)
    return _PUNCTUATION.sub(r"\\\1", text)


def diff_report(data: model.ReportData, period: Period) -> str:
    """The diff report as GitHub-flavoured Markdown."""
    out = [f"# {md(period.title)}", ""]
    if period.remark:
        out += [md(period.remark), ""]
    out += [period_line(period, data), "", data.totals(), ""]
    if not data.count:
        return "\n".join([*out, "No changes."])
    out += ["## Summary", "", "| source | type | first load | created | updated | deleted |", "|---|---|--:|--:|--:|--:|"]
    summary = data.summary()
    for r in summary:
        if r.created or r.updated or r.deleted:
            out.append(f"| {md(r.source)} | {md(r.entity_type)} | {r.initial} | {r.created} | {r.updated} | {r.deleted} |")
    total = [sum(getattr(r, f) for r in summary) for f in ("initial", "created", "updated", "deleted")]
    out.append(f"| **total** | {model.plural(len(summary), 'type')} | " + " | ".join(str(n) for n in total) + " |")
    if data.changes:
        zone = model.zone_name(period.tz, model.note_time(data.changes[0]))
        out += ["", "## Changes", "", f"| time ({zone}) | source | action | type | key | name |", "|---|---|---|---|---|---|"]
        for n in data.changes:
            out.append(
                f"| {model.when(model.note_time(n), period.tz, zone=False)} | {md(n['source'])} | {n['action']} | "
                f"{md(n['entity_type'])} | {md(n['key'])} | {md(n.get('name') or '')} |"
            )
    loads = data.first_loads()
    if loads:
        out += ["", "## First loads", "", "| source | type | entities | at |", "|---|---|--:|---|"]
        for load in loads:
            out.append(f"| {md(load.source)} | {md(load.entity_type)} | {load.count} | {model.when(load.first, period.tz)} |")
    updates = [n for n in data.changes if n["action"] == "update"]
    if updates:
        out += ["", "## Field changes", ""]
        for n in updates:
            out += [f"### {md(n['entity_type'])} {md(n['key'])} ({md(n.get('name') or '-')})", ""]
            out += ["| field | before | after |", "|---|---|---|"]
            for c in model.field_changes(n):
                out.append(f"| {md(c.field)} | {md(c.old, 120)} | {md(c.new, 120)} |")
            out.append("")
    return "\n".join(out)
