"""What every report format shows, computed once: field changes (the notification's
``changes`` and its ``previous`` name/state/parent/project), summaries per source and
type, first loads folded per type, the timeline's buckets, times in the report's zone.

Pure functions of notifications handed in; never renders markup and never reads a clock.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import orjson

from poller.notification import BASELINE_INITIALIZED

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


def plural(count: int, noun: str) -> str:
    """``1 entity``, ``2 entities``, ``1 type``, ``3 types``."""
    if count == 1:
        return f"1 {noun}"
    return f"{count} {noun[:-1]}ies" if noun.endswith("y") else f"{count} {noun}s"


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


@dataclass
class FirstLoad:
    """The first-load creates of one (source, type), folded into one line: a count and a sample."""

    source: str
    entity_type: str
    count: int = 0
    first: datetime | None = None
    sample: list[Mapping[str, Any]] = field(default_factory=list)
    silent: bool = False  # recorded under initial_load: silent: a baseline_initialized marker, no creates to list


@dataclass
class ReportData:
    """Everything a report shows, gathered in one pass over a stream of notifications.

    Only the real changes are kept whole; first loads keep a count and a bounded sample,
    and times are counted per minute, so a first load of a million entities costs memory
    for its sample, not for a million notifications.
    """

    changes: list[Mapping[str, Any]] = field(default_factory=list)
    loads: dict[tuple[str, str], FirstLoad] = field(default_factory=dict)
    rows: dict[tuple[str, str], SummaryRow] = field(default_factory=dict)
    actions: Counter[str] = field(default_factory=Counter)
    minutes: Counter[tuple[datetime, str]] = field(default_factory=Counter)  # (minute, action or "initial")
    first_time: datetime | None = None
    last_time: datetime | None = None

    @property
    def count(self) -> int:
        """How many notifications were gathered."""
        return sum(self.actions.values())

    def summary(self) -> list[SummaryRow]:
        """Created / updated / deleted (first-load creates apart) per source and type, sorted."""
        return [self.rows[k] for k in sorted(self.rows)]

    def first_loads(self) -> list[FirstLoad]:
        """The folded first loads, in the order they were recorded."""
        return list(self.loads.values())

    def totals(self) -> str:
        """"3 created, 2 updated, 1 deleted"."""
        a = self.actions
        return f"{a['create']} created, {a['update']} updated, {a['delete']} deleted"

    def present(self) -> dict[str, list[str]]:
        """The sources, types and actions present (sorted), for filters."""
        return {
            "source": sorted({s for s, _ in self.rows}), "type": sorted({t for _, t in self.rows}),
            "action": sorted(self.actions),
        }


def collect(notes: Iterable[Mapping[str, Any]], *, fold_initial: bool = True, keep: int = 1000) -> ReportData:
    """Gather a stream of notifications (oldest first) into ReportData, keeping ``keep`` per first load."""
    data = ReportData()
    for n in notes:
        action, source, etype = n["action"], n["source"], n["entity_type"]
        if action == BASELINE_INITIALIZED:
            _fold_marker(data, n)
            continue
        initial = action == "create" and bool(n.get("initial"))
        data.actions[action] += 1
        row = data.rows.get((source, etype))
        if row is None:
            row = data.rows[(source, etype)] = SummaryRow(source, etype)
        if initial:
            row.initial += 1
        elif action in ("create", "update", "delete"):
            setattr(row, f"{action}d", getattr(row, f"{action}d") + 1)
        moment = note_time(n)
        if moment is not None:
            data.minutes[(moment.replace(second=0, microsecond=0), "initial" if initial else action)] += 1
            data.first_time = moment if data.first_time is None else min(data.first_time, moment)
            data.last_time = moment if data.last_time is None else max(data.last_time, moment)
        if initial and fold_initial:
            load = data.loads.get((source, etype))
            if load is None:
                load = data.loads[(source, etype)] = FirstLoad(source, etype, first=moment)
            load.count += 1
            if len(load.sample) < keep:
                load.sample.append({"key": n["key"], "name": n.get("name")})
        else:
            data.changes.append(n)
    return data


def _fold_marker(data: ReportData, note: Mapping[str, Any]) -> None:
    """F25: a silent first load's marker counts as that many first-load creates per type, with no sample."""
    moment = note_time(note)
    source = note["source"]
    types = (note.get("baseline") or {}).get("types") or {}
    for etype, count in types.items() if isinstance(types, Mapping) else ():
        count = count if isinstance(count, int) else 0
        data.actions["create"] += count
        row = data.rows.get((source, etype))
        if row is None:
            row = data.rows[(source, etype)] = SummaryRow(source, etype)
        row.initial += count
        load = data.loads.get((source, etype))
        if load is None:
            load = data.loads[(source, etype)] = FirstLoad(source, etype, first=moment)
        load.count += count
        load.silent = True
        if moment is not None and count:
            data.minutes[(moment.replace(second=0, microsecond=0), "initial")] += count
    if moment is not None:
        data.first_time = moment if data.first_time is None else min(data.first_time, moment)
        data.last_time = moment if data.last_time is None else max(data.last_time, moment)


def summary(notes: Iterable[Mapping[str, Any]]) -> list[SummaryRow]:
    """Created / updated / deleted (and first-load creates apart) per source and type."""
    return collect(notes).summary()


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


def timeline(data: ReportData, start: datetime, end: datetime, tz: tzinfo) -> Timeline:
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
    for (minute, kind), n in data.minutes.items():
        index = min(max(int((minute.astimezone(tz) - first) / step), 0), count - 1)
        if kind == "initial":
            initial[index] += n
        else:
            counts[index][kind] += n
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

    def bounds(self, data: ReportData) -> tuple[datetime, datetime] | None:
        """The period, filled from the notifications' times where it was not given (None if unknown)."""
        start = self.start or data.first_time
        end = self.end or data.last_time or start
        return None if start is None or end is None else (start, end)
