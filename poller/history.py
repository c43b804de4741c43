"""Reading recorded changes back: ``--since`` parsing, the notifications of a report, and
one entity's history (``poller history TYPE/KEY``).

Owns the query side of the change history; never writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from baseline.store import Store, StoredEntity
from poller.config import DURATION_HINT, parse_duration
from poller.errors import ConfigError, UnknownEntity


def parse_since(text: str, now: datetime) -> datetime:
    """A duration ago (``30`` seconds, ``90m``, ``1h30m``, ``1d``, ``1w``: the config's parser) or an
    ISO-8601 time; ConfigError naming the option and the value otherwise."""
    seconds = parse_duration(text)
    if seconds is not None:
        return now - timedelta(seconds=seconds)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--since {text!r}: not a duration ({DURATION_HINT}) nor an ISO-8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def describe_since(text: str) -> str:
    """``in the last 2h`` for a duration, ``since 2026-11-01T00:00:00Z`` for a time (as the user wrote it)."""
    return f"since {text}" if parse_duration(text) is None else f"in the last {text}"


def notifications(
    store: Store, *, source: str | None = None, since: datetime | None = None, run_id: int | None = None,
    entity_type: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Recorded notifications, oldest first, as parsed JSON objects."""
    for row in store.history(source=source, since=since, run_id=run_id, entity_type=entity_type):
        yield orjson.loads(row.body)


class Counted:
    """An iterator that counts what passed through it (the report streams; the CLI says how many)."""

    def __init__(self, items: Iterator[dict[str, Any]]) -> None:
        self._items = items
        self.count = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for item in self._items:
            self.count += 1
            yield item


def parse_ref(ref: str) -> tuple[str, str]:
    """``TYPE/KEY`` -> (type, key); the key may itself contain slashes. ConfigError otherwise."""
    entity_type, sep, key = ref.partition("/")
    if not sep or not entity_type or not key:
        raise ConfigError(f"{ref!r}: name the entity as TYPE/KEY, e.g. compute.server/6b641eb1-...")
    return entity_type, key


@dataclass(frozen=True)
class EntityHistory:
    """Every recorded change of one TYPE/KEY, oldest first, and what is missing from it.

    ``pruned`` is true when the baseline knew the entity before the oldest change still
    recorded: older changes were removed after ``baseline.history_days``.
    """

    entity_type: str
    key: str
    notes: list[dict[str, Any]]
    held: list[StoredEntity]
    pruned: bool
    history_days: float | None

    def remark(self) -> str | None:
        """One line saying what the history lacks (None when it is complete)."""
        if not self.pruned:
            return None
        days = f"{self.history_days:g} days" if self.history_days is not None else "baseline.history_days"
        first = min(e.first_seen for e in self.held)
        if not self.notes:
            return (f"no recorded changes left for {self.entity_type}/{self.key}: history older than {days} is pruned "
                    f"(or its first load was silent); the baseline holds it since {first:%Y-%m-%d %H:%M:%S} UTC "
                    "(see poller show)")
        return (f"older changes are not recorded: history older than {days} is pruned (or the first load was "
                f"silent); first seen {first:%Y-%m-%d %H:%M:%S} UTC")


def entity_history(
    store: Store, entity_type: str, key: str, *, source: str | None = None, history_days: float | None = None,
) -> EntityHistory:
    """One entity's recorded changes; UnknownEntity when neither history nor baseline knows it."""
    notes = [orjson.loads(row.body) for row in store.key_history(entity_type, key, source)]
    held = store.find_entity(entity_type, key, source)
    if not notes and not held:
        where = f" in source {source}" if source else ""
        raise UnknownEntity(f"no entity {entity_type}/{key}{where}: not in the baseline nor in the recorded changes")
    pruned = bool(held) and (not notes or _predates(held, notes))
    return EntityHistory(entity_type, key, notes, held, pruned, history_days)


def _predates(held: list[StoredEntity], notes: list[dict[str, Any]]) -> bool:
    """Whether some source's entity existed before the oldest change recorded for it."""
    for entity in held:
        own = [n for n in notes if n["source"] == entity.source]
        if not own or own[0]["action"] != "create":
            return True
    return False


def parse_tz(text: str) -> tzinfo:
    """``UTC``, ``local`` (this machine's zone) or an IANA name like ``Europe/Berlin``; ConfigError otherwise."""
    if text.upper() in ("UTC", "Z"):
        return UTC
    if text.lower() == "local":
        local = datetime.now().astimezone().tzinfo
        return local if local is not None else UTC
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"--tz {text!r}: use UTC, local or a zone name like Europe/Berlin") from None
