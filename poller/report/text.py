"""Plain-text rendering: aligned tables and the text diff report.

Every cell goes through ``model.visible`` (control characters shown as escapes, so a
hostile name can neither break a row nor drive the terminal). Never reads the database.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from poller.report import model
from poller.report.model import Period

_ACTION_MARK = {"create": "+", "update": "~", "delete": "-", model.BASELINE_INITIALIZED: "*"}


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], max_width: int | None = None) -> str:
    """A plain text table with aligned columns (the last column is cut to the terminal)."""
    data = [[model.visible("" if c is None else str(c)) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in data:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    max_width = max_width or shutil.get_terminal_size((160, 24)).columns
    if sum(widths) + 2 * len(widths) > max_width and widths:
        widths[-1] = max(10, max_width - sum(widths[:-1]) - 2 * len(widths))
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for row in data:
        cells = [model.short(c, w) for c, w in zip(row, widths, strict=True)]
        lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
    return "\n".join(lines)


def change_summary(note: Mapping[str, Any], limit: int = 3) -> str:
    """One line naming what changed in an update notification."""
    changes = model.field_changes(note)
    parts = [_arrow(c, 24) for c in changes[:limit]]
    if len(changes) > limit:
        parts.append(f"(+{len(changes) - limit} more)")
    return "; ".join(parts)


def marker_summary(note: Mapping[str, Any]) -> str:
    """F25: one line saying what a baseline_initialized marker recorded silently."""
    baseline = note.get("baseline") or {}
    types = baseline.get("types") or {}
    listed = ", ".join(f"{model.visible(str(t))} {c}" for t, c in types.items()) if isinstance(types, Mapping) else ""
    epoch = "new epoch" if baseline.get("new_epoch") else "epoch"
    return f"first load recorded silently ({epoch} {model.visible(str(note.get('epoch')))}): {listed or 'no types'}"


def _arrow(change: model.FieldChange, width: int) -> str:
    old, new = model.value_text(change.old), model.value_text(change.new)
    return f"{model.visible(change.field)}: {model.short(old, width)} -> {model.short(new, width)}"


def notifications_table(notes: Sequence[Mapping[str, Any]], period: Period | None = None) -> str:
    """Notifications as a readable table (snapshot --format table, diff --format table)."""
    tz = period.tz if period else UTC
    rows = [
        (
            model.when(model.note_time(n), tz, zone=False), n["source"],
            _ACTION_MARK.get(n["action"], "?") + n["action"], n["entity_type"], n["key"], n.get("name") or "",
            change_summary(n) if n["action"] == "update" else marker_summary(n) if n["action"] == model.BASELINE_INITIALIZED
            else "",
        )
        for n in notes
    ]
    zone = model.zone_name(tz, model.note_time(notes[0]) if notes else None)
    return table((f"TIME ({zone})", "SOURCE", "ACTION", "TYPE", "KEY", "NAME", "CHANGES"), rows)


def summary_table(data: model.ReportData) -> str:
    """Created / updated / deleted per source and type that changed (first loads apart), and a total."""
    summary = data.summary()
    rows: list[tuple[Any, ...]] = [
        (r.source, r.entity_type, r.initial, r.created, r.updated, r.deleted)
        for r in summary if r.created or r.updated or r.deleted
    ]
    only_loaded = len(summary) - len(rows)
    total = [sum(getattr(r, f) for r in summary) for f in ("initial", "created", "updated", "deleted")]
    rows.append(("TOTAL", f"{len(summary)} types" + (f" ({only_loaded} first load only)" if only_loaded else ""), *total))
    return table(("SOURCE", "TYPE", "FIRST LOAD", "CREATED", "UPDATED", "DELETED"), rows)


def period_line(period: Period, data: model.ReportData) -> str:
    """``Period: <start> to <end>`` with the zone named."""
    bounds = period.bounds(data)
    if bounds is None:
        return f"Times in {model.zone_name(period.tz, None)}"
    start, end = bounds
    return f"Period: {model.when(start, period.tz)} to {model.when(end, period.tz)}"


def diff_report(data: model.ReportData, period: Period) -> str:
    """The text diff report: period, summary, the changes, first loads folded, field details."""
    head = [model.visible(period.title), period_line(period, data)]
    if period.remark:
        head.append(model.visible(period.remark))
    if not data.count:
        return "\n".join([*head, "no changes"])
    out = [*head, data.totals(), "", summary_table(data)]
    if data.changes:
        out += ["", notifications_table(data.changes, period)]
    by_source: dict[str, list[model.FirstLoad]] = {}
    for load in data.first_loads():
        by_source.setdefault(load.source, []).append(load)
    if by_source:
        out.append("")
    for source, group in by_source.items():
        out.append(
            f"first load of {model.visible(source)}: {model.plural(sum(x.count for x in group), 'entity')} of "
            f"{model.plural(len(group), 'type')} at "
            f"{model.when(group[0].first, period.tz)} "
            + ("(counted above; recorded silently: one baseline_initialized notification, no creates to list)"
               if all(x.silent for x in group) else "(counted above; listed by --format json or html)")
        )
    details = _details(data.changes)
    return "\n".join(out) + ("\n" + details if details else "")


def _details(notes: Sequence[Mapping[str, Any]]) -> str:
    lines = []
    for n in notes:
        if n["action"] != "update":
            continue
        name = model.visible(str(n.get("name") or "-"))
        lines.append(f"\n{model.visible(n['source'])} {model.visible(n['entity_type'])} {model.visible(n['key'])} ({name}):")
        lines += [f"  {_arrow(c, 60)}" for c in model.field_changes(n)]
    return "\n".join(lines)


def history_report(notes: Sequence[Mapping[str, Any]], period: Period) -> str:
    """One entity's changes, oldest first: a table and every changed field of every update."""
    head = [model.visible(period.title)]
    if period.remark:
        head.append(model.visible(period.remark))
    if not notes:
        return "\n".join(head)
    head.append(period_line(period, model.collect(notes, fold_initial=False)))
    details = _details(notes)
    return "\n".join([*head, model.totals(notes), "", notifications_table(notes, period)]) + (
        "\n" + details if details else ""
    )


def entity_view(view: Mapping[str, Any], tz: Any = UTC) -> str:
    """``poller show``: one entity's stored fields, then its stored document as indented JSON."""
    def moment(value: str | None) -> str:
        return model.when(datetime.fromisoformat(value), tz) if value else "-"

    rows = [
        ("source", view["source"]), ("type", view["entity_type"]), ("key", view["key"]), ("name", view["name"]),
        ("state", view["state"]), ("project", view["project"]),
        ("parent", model.value_text(view["parent"]) if view["parent"] else None), ("children", view["children"]),
        ("first seen", moment(view["first_seen"])), ("last changed", moment(view["last_changed"])),
        ("deleted", moment(view["deleted_at"]) if view["deleted_at"] else "no"),
        ("version", view["version"]), ("hash", view["hash"]),
    ]
    width = max(len(label) for label, _ in rows)
    lines = [f"{label.ljust(width)}  {model.visible('-' if value is None else str(value))}" for label, value in rows]
    if view["attributes"] is None:
        lines.append("stored document: none (baseline.store_payloads is off)")
    else:
        pretty = orjson.dumps(view["attributes"], option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
        lines += ["stored document:", *("  " + model.visible(line) for line in pretty.splitlines())]
    return "\n".join(lines)
