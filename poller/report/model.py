"""What every report format shows, computed once: field changes (the notification's
``changes`` and its ``previous`` name/state/parent/project), summaries per source and
type, first loads folded per type, the timeline's buckets, times in the report's zone.

Pure functions of notifications handed in; never renders markup and never reads a clock.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import orjson

ACTIONS = ("create", "update", "delete")
#: The entity fields a notification carries outside ``entity``; ``previous`` holds their old values.
TOP_FIELDS = ("name", "state", "parent", "project")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\e"}


def visible(text: str) -> str:
    """``text`` with control characters (newlines, ANSI escapes, bidi overrides) shown as escapes."""
    return _CONTROL.sub(lambda m: _NAMED.get(m.group(), f"\\u{ord(m.group()):04x}"), text)


def value_text(value: Any) -> str:
    """A value as one line of text: strings as they are, a parent as type/key, the rest as JSON."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return visible(value)
    if isinstance(value, Mapping) and set(value) == {"type", "key"}:
        return visible(f"{value['type']}/{value['key']}")
    return visible(orjson.dumps(value, default=str, option=orjson.OPT_SORT_KEYS).decode())


def short(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters with an ellipsis."""
    return text if len(text) <= width else text[: width - 1] + "…"


@dataclass(frozen=True)
class FieldChange:
    """One changed field: ``name``/``state``/``parent``/``project`` or an attribute's JSON pointer."""

    field: str
    old: Any
    new: Any


def field_changes(note: Mapping[str, Any]) -> list[FieldChange]:
    """Every changed field of an update, top-level fields first, then the attributes' paths."""
    previous = note.get("previous") or {}
    out = [FieldChange(f, previous[f], note.get(f)) for f in TOP_FIELDS if f in previous]
    out += [FieldChange(f, old, note.get(f)) for f, old in previous.items() if f not in TOP_FIELDS]
    out += [FieldChange(str(c["path"]), c.get("old"), c.get("new")) for c in note.get("changes") or []]
    return out


def facts(note: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The top-level fields a create or delete carries (state, parent, project), when set."""
    return [(f, note.get(f)) for f in TOP_FIELDS[1:] if note.get(f) is not None]


def note_time(note: Mapping[str, Any]) -> datetime | None:
    """The notification's time as an aware datetime (None when absent or unreadable)."""
    raw = note.get("time")
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


_FALLBACK_MOMENT = datetime(2000, 1, 1, tzinfo=UTC)


def zone_name(tz: tzinfo, at: datetime | None) -> str:
    """A short name for the zone at a moment (``UTC``, ``CET``, or ``+0200`` when it has none)."""
    moment = (at or _FALLBACK_MOMENT).astimezone(tz)
    return moment.tzname() or moment.strftime("%z")


def when(moment: datetime | None, tz: tzinfo, *, zone: bool = True) -> str:
    """``2026-12-04 17:37:02 UTC``: a moment in the report's zone, to the second."""
    if moment is None:
        return "-"
    local = moment.astimezone(tz)
    return local.strftime("%Y-%m-%d %H:%M:%S") + (f" {zone_name(tz, moment)}" if zone else "")


@dataclass
class SummaryRow:
    """Counts of one (source, type) in a report."""

    source: str
    entity_type: str
    initial: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0


def summary(notes: Iterable[Mapping[str, Any]]) -> list[SummaryRow]:
    """Created / updated / deleted (and first-load creates apart) per source and type."""
    rows: dict[tuple[str, str], SummaryRow] = {}
    for n in notes:
        row = rows.setdefault((n["source"], n["entity_type"]), SummaryRow(n["source"], n["entity_type"]))
        if n["action"] == "create" and n.get("initial"):
            row.initial += 1
        elif n["action"] == "create":
            row.created += 1
        elif n["action"] == "update":
            row.updated += 1
        elif n["action"] == "delete":
            row.deleted += 1
    return [rows[k] for k in sorted(rows)]


@dataclass
class FirstLoad:
    """The first-load creates of one (source, type), folded into one line."""

    source: str
    entity_type: str
    notes: list[Mapping[str, Any]] = field(default_factory=list)

    @property
    def first(self) -> datetime | None:
        """When the first of them was recorded."""
        return note_time(self.notes[0]) if self.notes else None


def split_initial(notes: Sequence[Mapping[str, Any]]) -> tuple[list[Mapping[str, Any]], list[FirstLoad]]:
    """(the real changes, the first loads folded per source and type), each in outbox order."""
    changes: list[Mapping[str, Any]] = []
    loads: dict[tuple[str, str], FirstLoad] = {}
    for n in notes:
        if n["action"] == "create" and n.get("initial"):
            loads.setdefault((n["source"], n["entity_type"]), FirstLoad(n["source"], n["entity_type"])).notes.append(n)
        else:
            changes.append(n)
    return changes, list(loads.values())


def totals(notes: Iterable[Mapping[str, Any]]) -> str:
    """"3 created, 2 updated, 1 deleted" for a list of notifications."""
    counts = Counter(n["action"] for n in notes)
    return f"{counts['create']} created, {counts['update']} updated, {counts['delete']} deleted"


@dataclass(frozen=True)
class Bucket:
    """One bar of the timeline: its start and the real changes (first loads apart) in it."""

    start: datetime
    counts: Mapping[str, int]
    initial: int


@dataclass(frozen=True)
class Timeline:
    """Changes per hour or per day over the report's period."""

    unit: str  # hour | day
    buckets: list[Bucket]


def timeline(notes: Iterable[Mapping[str, Any]], start: datetime, end: datetime, tz: tzinfo) -> Timeline:
    """Buckets of one hour (periods up to two days) or one day, aligned in the report's zone."""
    start, end = start.astimezone(tz), max(end, start).astimezone(tz)
    hourly = end - start <= timedelta(days=2)
    step = timedelta(hours=1) if hourly else timedelta(days=1)
    first = start.replace(minute=0, second=0, microsecond=0)
    if not hourly:
        first = first.replace(hour=0)
    count = min(int((end - first) / step) + 1, 400)
    counts: list[Counter[str]] = [Counter() for _ in range(count)]
    initial = [0] * count
    for n in notes:
        moment = note_time(n)
        if moment is None:
            continue
        index = min(max(int((moment.astimezone(tz) - first) / step), 0), count - 1)
        if n["action"] == "create" and n.get("initial"):
            initial[index] += 1
        else:
            counts[index][n["action"]] += 1
    # Wall-clock steps in the zone (a DST day has 23 or 25 hours; buckets follow the clock).
    starts = [(first.replace(tzinfo=None) + i * step).replace(tzinfo=first.tzinfo) for i in range(count)]
    return Timeline("hour" if hourly else "day", [Bucket(s, c, i) for s, c, i in zip(starts, counts, initial, strict=True)])


@dataclass(frozen=True)
class Period:
    """The report's title, period and the zone its times are shown in."""

    title: str
    start: datetime | None
    end: datetime | None
    tz: tzinfo
    remark: str | None = None  # one line under the title (e.g. that older history is pruned)

    def bounds(self, notes: Sequence[Mapping[str, Any]]) -> tuple[datetime, datetime] | None:
        """The period, filled from the notifications' times where it was not given (None if unknown)."""
        times = [t for t in (note_time(n) for n in notes) if t is not None]
        start = self.start or (min(times) if times else None)
        end = self.end or (max(times) if times else start)
        return None if start is None or end is None else (start, end)


def group_counts(notes: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """The sources, types and actions present (sorted), for filters."""
    seen: dict[str, set[str]] = defaultdict(set)
    for n in notes:
        seen["source"].add(n["source"])
        seen["type"].add(n["entity_type"])
        seen["action"].add(n["action"])
    return {k: sorted(v) for k, v in seen.items()}
