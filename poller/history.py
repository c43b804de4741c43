"""Reading recorded changes back: ``--since`` parsing and the notifications of a report.

Owns the query side of the change history; never writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from baseline.store import Store
from poller.config import parse_duration
from poller.errors import ConfigError


def parse_since(text: str, now: datetime) -> datetime:
    """``2h``, ``1d``, ``90m`` (ago) or an ISO-8601 time; ConfigError otherwise."""
    seconds = parse_duration(text)
    if seconds is not None and not text.strip().replace(".", "").isdigit():
        return now - timedelta(seconds=seconds)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--since {text!r}: use a duration like 2h or 1d, or an ISO-8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def notifications(
    store: Store, *, source: str | None = None, since: datetime | None = None, run_id: int | None = None,
    entity_type: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Recorded notifications, oldest first, as parsed JSON objects."""
    for row in store.history(source=source, since=since, run_id=run_id, entity_type=entity_type):
        yield orjson.loads(row.body)
