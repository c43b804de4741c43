"""The HTML diff report: one self-contained page (inline CSS, inline SVG, a little inline
JavaScript; nothing fetched, so it works from file:// and offline).

Shows the period and time zone, a summary per source and type, a timeline of changes,
first loads folded per type, every change with before -> after for every changed field,
and filters by source, type, action and text. Every untrusted string is escaped with
``html.escape`` and control characters are shown as escapes; a Content-Security-Policy
lets only the page's own script run. Never reads the database.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from poller.report import model
from poller.report.model import Period

#: First-load entities listed per (source, type) inside its folded line; the rest are counted.
MAX_LISTED = 1000
#: Characters of one value shown before it is cut (the full value is in the tooltip).
MAX_VALUE = 400

_CSS = """
:root{--create:#1a7f37;--update:#9a6700;--delete:#cf222e;--initial:#8c959f;--line:#d0d7de;--soft:#f6f8fa}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;padding:16px 20px;
 max-width:1600px;color:#1f2328}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:22px 0 8px}
.meta{color:#59636e;margin:0 0 4px}.remark{background:#fff8c5;padding:4px 8px;border-radius:4px}
table{border-collapse:collapse;width:100%;table-layout:fixed}
th,td{border-bottom:1px solid var(--line);padding:4px 6px;text-align:left;vertical-align:top;
 overflow-wrap:anywhere;word-break:break-word}
th{background:var(--soft);font-weight:600}
.num{text-align:right;font-variant-numeric:tabular-nums}
.nowrap,time{white-space:nowrap}
code,.key{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.key{color:#59636e;display:block}
.summary{max-width:900px}tr.pick{cursor:pointer}tr.pick:hover td{background:#eef4ff}.summary col.s{width:28%}.summary col.t{width:32%}
.a-create{color:var(--create)}.a-update{color:var(--update)}.a-delete{color:var(--delete)}
.badge{display:inline-block;white-space:nowrap;border-radius:10px;padding:0 7px;font-size:12px;font-weight:600;color:#fff}
.badge.create{background:var(--create)}.badge.update{background:var(--update)}.badge.delete{background:var(--delete)}
.badge.initial{background:var(--initial)}
table.fields{table-layout:fixed;width:100%;margin:0}
table.fields td,table.fields th{border:0;padding:1px 4px;font-size:13px}
table.fields th{background:none;color:#59636e;font-weight:normal}
.old{background:#ffebe9}.new{background:#dafbe1}
col.c-time{width:188px}col.c-where{width:220px}col.c-action{width:92px}col.c-entity{width:230px}
tr[hidden]{display:none}
.legend span{margin-right:14px}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
form#filters{display:flex;flex-wrap:wrap;gap:8px 16px;align-items:center;background:var(--soft);
 padding:8px 10px;border:1px solid var(--line);border-radius:6px;position:sticky;top:0}
details summary{cursor:pointer}
ul.entities{margin:4px 0;padding-left:18px;columns:2}
svg{display:block;width:100%;height:auto;max-width:1200px}
"""

_JS = """
(function () {
  var form = document.getElementById('filters');
  if (!form) { return; }
  function apply() {
    var source = form.elements.source.value, type = form.elements.type.value;
    var text = form.elements.q.value.toLowerCase(), shown = 0;
    var actions = {};
    ['create', 'update', 'delete'].forEach(function (a) { actions[a] = form.elements['a-' + a].checked; });
    var rows = document.querySelectorAll('tr.row');
    for (var i = 0; i < rows.length; i++) {
      var r = rows[i], d = r.dataset;
      var ok = (!source || d.source === source) && (!type || d.type === type) && actions[d.action] &&
               (!text || d.text.indexOf(text) !== -1);
      r.hidden = !ok;
      if (ok) { shown++; }
    }
    document.getElementById('shown').textContent = String(shown);
  }
  form.addEventListener('input', apply);
  form.addEventListener('change', apply);
  form.addEventListener('submit', function (e) { e.preventDefault(); });
  document.querySelectorAll('#summary tr.pick').forEach(function (r) {
    r.addEventListener('click', function () {
      form.elements.source.value = r.dataset.source;
      form.elements.type.value = r.dataset.type;
      apply();
      document.getElementById('filters').scrollIntoView();
    });
  });
  apply();
})();
"""


def _e(value: Any) -> str:
    """Untrusted text for an element or an attribute: control characters shown, markup escaped."""
    return escape(model.visible(value) if isinstance(value, str) else model.value_text(value), quote=True)


def _value(value: Any) -> str:
    text = model.value_text(value)
    if len(text) <= MAX_VALUE:
        return escape(text)
    return f"<span title='{escape(text, quote=True)}'>{escape(model.short(text, MAX_VALUE))}</span>"


def _time(moment: Any, period: Period) -> str:
    if moment is None:
        return "-"
    return f"<time datetime='{escape(moment.isoformat())}'>{escape(model.when(moment, period.tz))}</time>"


def diff_report(data: model.ReportData, period: Period) -> str:
    """The whole page."""
    changes, loads = data.changes, data.first_loads()
    bounds = period.bounds(data)
    if bounds:
        span = f"{_time(bounds[0], period)} to {_time(bounds[1], period)}"
        zone = model.zone_name(period.tz, bounds[1])
    else:
        span, zone = "no recorded changes", model.zone_name(period.tz, None)
    body = [
        f"<header><h1>{_e(period.title)}</h1>",
        f"<p class='meta'>Period: {span} &middot; times in {_e(zone)}</p>",
        f"<p class='remark'>{_e(period.remark)}</p>" if period.remark else "",
        f"<p class='meta'>{escape(data.totals())}"
        + (f" ({sum(x.count for x in loads)} of the creates are first loads)" if loads else "") + "</p></header>",
    ]
    if not data.count:
        body.append("<p>No changes in this period.</p>")
    else:
        body += [_summary(data), _timeline(data, bounds, period), _filters(data), _changes(changes, loads, period)]
    script = _JS.strip()
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    csp = f"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{digest}'; img-src data:"
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{csp}\">"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{_e(period.title)}</title><style>{_CSS}</style></head>\n<body>\n"
        + "\n".join(body) + f"\n<script>{script}</script>\n</body></html>"
    )


def _summary(data: model.ReportData) -> str:
    rows = data.summary()
    changed = [r for r in rows if r.created or r.updated or r.deleted]
    loaded = [r for r in rows if r.initial]
    head = (
        "<table class='summary'><colgroup><col class='s'><col class='t'><col><col><col><col></colgroup>"
        "<thead><tr><th>Source</th><th>Type</th><th class='num'>First load</th><th class='num'>Created</th>"
        "<th class='num'>Updated</th><th class='num'>Deleted</th></tr></thead><tbody>"
    )
    out = ["<section id='summary'><h2>Summary per source and type</h2>", head]
    out += [_summary_row(r) for r in changed] or ["<tr><td colspan='6'>No changes apart from first loads.</td></tr>"]
    total = [sum(getattr(r, f) for r in rows) for f in ("initial", "created", "updated", "deleted")]
    out.append(
        "</tbody><tfoot><tr><th colspan='2'>Total (all types)</th>"
        + "".join(f"<th class='num'>{n}</th>" for n in total) + "</tr></tfoot></table>"
    )
    if loaded:
        out.append(
            f"<details><summary>First loads: {model.plural(total[0], 'entity')} of {model.plural(len(loaded), 'type')}"
            f"</summary>{head}"
            + "".join(_summary_row(r) for r in loaded) + "</tbody></table></details>"
        )
    out.append("</section>")
    return "\n".join(out)


def _summary_row(r: model.SummaryRow) -> str:
    return (
        f"<tr class='pick' data-source='{_e(r.source)}' data-type='{_e(r.entity_type)}' title='Show only these changes'>"
        f"<td>{_e(r.source)}</td><td>{_e(r.entity_type)}</td><td class='num'>{r.initial or ''}</td>"
        f"<td class='num a-create'>{r.created or ''}</td><td class='num a-update'>{r.updated or ''}</td>"
        f"<td class='num a-delete'>{r.deleted or ''}</td></tr>"
    )


def _timeline(data: model.ReportData, bounds: tuple[Any, Any] | None, period: Period) -> str:
    if bounds is None:
        return ""
    line = model.timeline(data, bounds[0], bounds[1], period.tz)
    width, height, top, bottom, left = 1000, 170, 12, 28, 34
    count = len(line.buckets)
    peak = max([sum(b.counts.values()) for b in line.buckets] + [1])
    slot = (width - left) / count
    bar = min(max(slot * 0.8, 1.0), 40.0)
    scale = (height - top - bottom) / peak
    fmt = "%H:%M" if line.unit == "hour" else "%m-%d"
    label_every = max(1, count // 12)
    parts = [
        f"<svg viewBox='0 0 {width} {height}' role='img' aria-label='Changes per {line.unit}' "
        "xmlns='http://www.w3.org/2000/svg' font-size='11' font-family='system-ui,sans-serif'>",
        f"<line x1='{left}' y1='{height - bottom}' x2='{width}' y2='{height - bottom}' stroke='#8c959f'/>",
        f"<text x='{left - 4}' y='{top + 4}' text-anchor='end' fill='#59636e'>{peak}</text>",
        f"<text x='{left - 4}' y='{height - bottom}' text-anchor='end' fill='#59636e'>0</text>",
    ]
    colours = {"create": "#1a7f37", "update": "#9a6700", "delete": "#cf222e"}
    for i, b in enumerate(line.buckets):
        x = left + i * slot + (slot - bar) / 2
        y = float(height - bottom)
        label = f"{model.when(b.start, period.tz)[:16]}: " + ", ".join(
            f"{b.counts.get(a, 0)} {a}d" for a in model.ACTIONS
        ) + (f"; first load of {b.initial}" if b.initial else "")
        parts.append(f"<g><title>{escape(label)}</title>")
        for action in model.ACTIONS:
            n = b.counts.get(action, 0)
            if n:
                h = n * scale
                y -= h
                parts.append(f"<rect x='{x:.1f}' y='{y:.1f}' width='{bar:.1f}' height='{h:.1f}' fill='{colours[action]}'/>")
        if b.initial:
            parts.append(f"<rect x='{x:.1f}' y='{height - bottom + 2}' width='{bar:.1f}' height='4' fill='#8c959f'/>")
        parts.append(f"<rect x='{x:.1f}' y='{top}' width='{bar:.1f}' height='{height - top - bottom}' fill='transparent'/></g>")
        if i % label_every == 0:
            parts.append(
                f"<text x='{x + bar / 2:.1f}' y='{height - 8}' text-anchor='middle' fill='#59636e'>"
                f"{escape(b.start.strftime(fmt))}</text>"
            )
    parts.append("</svg>")
    legend = (
        "<p class='legend'><span><i style='background:var(--create)'></i>created</span>"
        "<span><i style='background:var(--update)'></i>updated</span>"
        "<span><i style='background:var(--delete)'></i>deleted</span>"
        "<span><i style='background:var(--initial)'></i>first load (not counted in the bars)</span></p>"
    )
    return f"<section id='timeline'><h2>Changes per {line.unit}</h2>{''.join(parts)}{legend}</section>"


def _filters(data: model.ReportData) -> str:
    present = data.present()

    def select(name: str, label: str) -> str:
        options = "".join(f"<option value='{_e(v)}'>{_e(v)}</option>" for v in present.get(name, []))
        return f"<label>{label} <select name='{name}' id='f-{name}'><option value=''>all</option>{options}</select></label>"

    boxes = "".join(
        f"<label><input type='checkbox' name='a-{a}' id='f-{a}' checked> <span class='a-{a}'>{a}d</span></label>"
        for a in model.ACTIONS
    )
    return (
        "<form id='filters' role='search'>" + select("source", "Source") + select("type", "Type") + boxes
        + "<label>Name or key <input type='search' name='q' id='f-q' size='18'></label>"
        + f"<span>showing <b id='shown'>{len(data.changes) + len(data.loads)}</b> rows</span></form>"
    )


def _changes(changes: Sequence[Mapping[str, Any]], loads: Sequence[model.FirstLoad], period: Period) -> str:
    cols = "<colgroup><col class='c-time'><col class='c-where'><col class='c-action'><col class='c-entity'><col></colgroup>"
    out = [
        f"<section><h2>Changes</h2><table id='changes'>{cols}<thead><tr><th>Time</th><th>Source / type</th>"
        "<th>Action</th><th>Entity</th><th>Changed fields (before &rarr; after)</th></tr></thead><tbody>",
    ]
    out += [_change_row(n, period) for n in changes] or ["<tr><td colspan='5'>No changes apart from first loads.</td></tr>"]
    out.append("</tbody></table></section>")
    if loads:
        count = sum(x.count for x in loads)
        out += [
            f"<section><h2>First loads: {model.plural(count, 'entity')} of {model.plural(len(loads), 'type')}</h2>"
            f"<table id='first-loads'>{cols}"
            "<thead><tr><th>Time</th><th>Source / type</th><th>Action</th><th colspan='2'>Entities</th></tr></thead><tbody>",
            *[_load_row(load, period) for load in loads],
            "</tbody></table></section>",
        ]
    return "\n".join(out)


def _where(source: str, entity_type: str) -> str:
    return f"<td>{_e(source)}<span class='key'>{_e(entity_type)}</span></td>"


def _data(source: str, entity_type: str, action: str, text: str) -> str:
    return (
        f"data-source='{_e(source)}' data-type='{_e(entity_type)}' data-action='{_e(action)}' "
        f"data-text='{escape(text.lower(), quote=True)}'"
    )


def _change_row(n: Mapping[str, Any], period: Period) -> str:
    action = n["action"]
    name = n.get("name")
    entity = (f"{_e(name)}" if name else "<i>(no name)</i>") + f"<span class='key'>{_e(n['key'])}</span>"
    if action == "update":
        rows = "".join(
            f"<tr><td><code>{_e(c.field)}</code></td><td class='old'>{_value(c.old)}</td><td class='new'>{_value(c.new)}</td></tr>"
            for c in model.field_changes(n)
        )
        detail = (
            "<table class='fields'><colgroup><col style='width:26%'><col><col></colgroup>"
            f"<thead><tr><th>field</th><th>before</th><th>after</th></tr></thead><tbody>{rows}</tbody></table>"
            if rows else "<i>no field recorded</i>"
        )
    else:
        detail = " &middot; ".join(f"{escape(f)}: {_value(v)}" for f, v in model.facts(n))
    text = model.visible(f"{name or ''} {n['key']}")
    initial = action == "create" and n.get("initial")
    badge = "<span class='badge initial'>first load</span>" if initial else f"<span class='badge {escape(action)}'>{escape(action)}</span>"
    return (
        f"<tr class='row {escape(action)}' {_data(n['source'], n['entity_type'], action, text)}>"
        f"<td class='nowrap'>{_time(model.note_time(n), period)}</td>{_where(n['source'], n['entity_type'])}"
        f"<td>{badge}</td>"
        f"<td>{entity}</td><td>{detail}</td></tr>"
    )


def _load_row(load: model.FirstLoad, period: Period) -> str:
    listed = load.sample[:MAX_LISTED]
    items = "".join(
        f"<li>{_e(n.get('name') or '(no name)')} <span class='key' style='display:inline'>{_e(n['key'])}</span></li>"
        for n in listed
    )
    more = f"<p>and {load.count - len(listed)} more (all of them: --format json)</p>" if load.count > len(listed) else ""
    if load.silent:  # F25: recorded under initial_load: silent, announced by one baseline_initialized marker
        more = "<p>recorded silently (initial_load: silent): one baseline_initialized notification, no creates to list</p>"
    text = model.visible(" ".join(f"{n.get('name') or ''} {n['key']}" for n in listed))
    return (
        f"<tr class='row initial' {_data(load.source, load.entity_type, 'create', text)}>"
        f"<td class='nowrap'>{_time(load.first, period)}</td>{_where(load.source, load.entity_type)}"
        "<td><span class='badge initial'>first load</span></td>"
        f"<td colspan='2'><details><summary>{_e(load.entity_type)}: {model.plural(load.count, 'entity')} created by the first load"
        f"</summary><ul class='entities'>{items}</ul>{more}</details></td></tr>"
    )
