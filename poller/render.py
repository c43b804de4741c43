"""Rendering for people: notification tables, diff reports (table, json, markdown, html),
source and collector listings. Pure text from values; never reads the database.
"""

from __future__ import annotations

import html
import shutil
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

_ACTION_MARK = {"create": "+", "update": "~", "delete": "-"}


def _short(value: Any, width: int = 40) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    return text if len(text) <= width else text[: width - 1] + "…"


def change_summary(note: Mapping[str, Any], limit: int = 3) -> str:
    """One line naming what changed in an update notification."""
    changes = note.get("changes") or []
    parts = [f"{c['path']}: {_short(c['old'], 24)} -> {_short(c['new'], 24)}" for c in changes[:limit]]
    for field_name, old in (note.get("previous") or {}).items():
        parts.append(f"{field_name}: {_short(old, 24)} -> {_short(note.get(field_name), 24)}")
    if len(changes) > limit:
        parts.append(f"(+{len(changes) - limit} more)")
    return "; ".join(parts)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], max_width: int | None = None) -> str:
    """A plain text table with aligned columns."""
    data = [[("" if c is None else str(c)) for c in row] for row in rows]
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
        cells = [c if len(c) <= w else c[: w - 1] + "…" for c, w in zip(row, widths, strict=True)]
        lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
    return "\n".join(lines)


def notifications_table(notes: Sequence[Mapping[str, Any]]) -> str:
    """Notifications as a readable table (snapshot --format table, diff --format table)."""
    rows = [
        (
            n.get("time", "")[:19].replace("T", " "), n["source"], _ACTION_MARK.get(n["action"], "?") + n["action"],
            n["entity_type"], n["key"], n.get("name") or "", change_summary(n) if n["action"] == "update" else "",
        )
        for n in notes
    ]
    return table(("TIME", "SOURCE", "ACTION", "TYPE", "KEY", "NAME", "CHANGES"), rows)


def totals(notes: Sequence[Mapping[str, Any]]) -> str:
    """"3 created, 2 updated, 1 deleted" for a list of notifications."""
    counts = Counter(n["action"] for n in notes)
    return f"{counts['create']} created, {counts['update']} updated, {counts['delete']} deleted"


def diff_report(notes: Sequence[Mapping[str, Any]], fmt: str, title: str) -> str:
    """The diff report in ``fmt`` (table, json, markdown, html)."""
    if fmt == "json":
        return orjson.dumps(list(notes), option=orjson.OPT_INDENT_2).decode()
    if fmt == "markdown":
        return _markdown(notes, title)
    if fmt == "html":
        return _html(notes, title)
    if not notes:
        return f"{title}\nno changes"
    return f"{title}\n{totals(notes)}\n\n{notifications_table(notes)}\n{_details_text(notes)}"


def _details_text(notes: Sequence[Mapping[str, Any]]) -> str:
    lines = []
    for n in notes:
        if n["action"] != "update":
            continue
        lines.append(f"\n{n['source']} {n['entity_type']} {n['key']} ({n.get('name') or '-'}):")
        for c in n.get("changes") or []:
            lines.append(f"  {c['path']}: {_short(c['old'], 60)} -> {_short(c['new'], 60)}")
        for field_name, old in (n.get("previous") or {}).items():
            lines.append(f"  {field_name}: {_short(old, 60)} -> {_short(n.get(field_name), 60)}")
    return "\n".join(lines)


def _md(text: Any) -> str:
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")


def _markdown(notes: Sequence[Mapping[str, Any]], title: str) -> str:
    out = [f"# {title}", "", totals(notes), ""]
    if not notes:
        return "\n".join([*out, "No changes."])
    out += ["| time | source | action | type | key | name |", "|---|---|---|---|---|---|"]
    for n in notes:
        out.append(
            f"| {_md(n.get('time'))} | {_md(n['source'])} | {n['action']} | {_md(n['entity_type'])} | "
            f"`{_md(n['key'])}` | {_md(n.get('name'))} |"
        )
    updates = [n for n in notes if n["action"] == "update"]
    if updates:
        out += ["", "## Field changes", ""]
        for n in updates:
            out.append(f"### {_md(n['entity_type'])} `{_md(n['key'])}` ({_md(n.get('name'))})")
            out += ["", "| field | old | new |", "|---|---|---|"]
            for c in n.get("changes") or []:
                out.append(f"| `{_md(c['path'])}` | {_md(_short(c['old'], 80))} | {_md(_short(c['new'], 80))} |")
            for field_name, old in (n.get("previous") or {}).items():
                out.append(f"| {field_name} | {_md(_short(old, 80))} | {_md(_short(n.get(field_name), 80))} |")
            out.append("")
    return "\n".join(out)


def _html(notes: Sequence[Mapping[str, Any]], title: str) -> str:
    e = html.escape
    rows = []
    for n in notes:
        details = ""
        if n["action"] == "update":
            items = "".join(
                f"<li><code>{e(c['path'])}</code>: {e(_short(c['old'], 80))} &rarr; {e(_short(c['new'], 80))}</li>"
                for c in n.get("changes") or []
            )
            details = f"<ul>{items}</ul>"
        rows.append(
            f"<tr class='{e(n['action'])}'><td>{e(str(n.get('time')))}</td><td>{e(n['source'])}</td>"
            f"<td>{e(n['action'])}</td><td>{e(n['entity_type'])}</td><td><code>{e(n['key'])}</code></td>"
            f"<td>{e(str(n.get('name') or ''))}</td><td>{details}</td></tr>"
        )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>" + e(title) + "</title>"
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
        "padding:4px}.create{background:#e6ffed}.delete{background:#ffeef0}.update{background:#fffbdd}</style>"
        "</head><body><h1>" + e(title) + "</h1><p>" + e(totals(notes)) + "</p><table><tr><th>time</th>"
        "<th>source</th><th>action</th><th>type</th><th>key</th><th>name</th><th>changes</th></tr>"
        + "".join(rows) + "</table></body></html>"
    )
