"""The change notification: DESIGN.md's JSON object, with its deterministic id.

It carries CloudEvents' core attribute names where they fit (``id``, ``specversion``,
``type``, ``source``, ``subject``, ``time``) but is not itself a CloudEvent (members such as
``entity_type`` are not valid attribute names): sinks label it ``application/json``, and the
webhook's ``format: cloudevents`` wraps it as ``data`` of a conformant event.

Pure: builds bytes from values handed in; never reads a clock or a database.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

ACTIONS = {"create": "created", "update": "updated", "delete": "deleted"}
#: The action (and outbox ``action``) of the marker a silent first load commits instead of its creates (F25).
BASELINE_INITIALIZED = "baseline_initialized"
#: The marker's ``entity_type``: a pseudo type naming the baseline itself (its ``key`` is the epoch).
BASELINE_TYPE = "poller.baseline"


def notification_id(
    source: str, entity_type: str, key: str, version: int, previous_hash: str | None, new_hash: str | None, epoch: str
) -> str:
    """A stable id for one change of one entity: the same change always gets the same id.

    ``version`` (bumped on every change of the key) keeps a value that flaps back
    and forth from reusing an earlier change's id; ``epoch`` keeps a rebuilt
    baseline's creations apart from the old ones.
    """
    material = "\x1f".join((source, entity_type, key, str(version), previous_hash or "-", new_hash or "-", epoch))
    digest = hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


@dataclass(frozen=True)
class Change:
    """Everything a notification says about one change of one entity."""

    source: str
    entity_type: str
    key: str
    action: str  # create | update | delete
    version: int
    epoch: str
    initial: bool
    time: datetime
    name: str | None
    parent: tuple[str, str] | None
    state: str | None
    project: str | None
    hash: str | None
    previous_hash: str | None
    changes: Sequence[Mapping[str, Any]] | None
    previous: Mapping[str, Any] | None
    entity: Any
    run_id: int | None = None

    @property
    def id(self) -> str:
        """The notification's deterministic id."""
        return notification_id(
            self.source, self.entity_type, self.key, self.version, self.previous_hash, self.hash, self.epoch
        )


@dataclass(frozen=True)
class BaselineMarker:
    """F25: the one notification a first load under ``initial_load: silent`` commits instead of its creates.

    It says that the baseline of ``types`` (entity type -> entities recorded) was initialized in
    ``epoch`` by run ``run_id`` without a notification per entity; ``new_epoch`` is true when the
    whole baseline is new (a new database, or a reset), false when types were added to a source.
    """

    source: str
    epoch: str
    new_epoch: bool
    time: datetime
    types: Mapping[str, int]
    run_id: int | None = None

    @property
    def id(self) -> str:
        """Deterministic: the same run's marker always has the same id."""
        material = "\x1f".join((BASELINE_INITIALIZED, self.source, self.epoch, str(self.run_id), *sorted(self.types)))
        digest = hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest()
        return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def render_marker(marker: BaselineMarker) -> bytes:
    """The marker as a notification object: every member a change carries (entity ones null), plus ``baseline``.

    ``type`` is ``poller.baseline.initialized``, ``action`` ``baseline_initialized``, ``entity_type``
    ``poller.baseline`` and ``key`` the epoch, so a consumer keyed on those never mistakes it for a change.
    """
    body: dict[str, Any] = {
        "id": marker.id,
        "specversion": "1.0",
        "type": "poller.baseline.initialized",
        "source": marker.source,
        "subject": f"{BASELINE_TYPE}/{marker.epoch}",
        "time": _iso(marker.time),
        "epoch": marker.epoch,
        "initial": True,
        "run_id": marker.run_id,
        "entity_type": BASELINE_TYPE,
        "key": marker.epoch,
        "name": None,
        "parent": None,
        "state": None,
        "project": None,
        "action": BASELINE_INITIALIZED,
        "version": None,
        "hash": None,
        "previous_hash": None,
        "changes": None,
        "previous": None,
        "entity": None,
        "baseline": {
            "new_epoch": marker.new_epoch,
            "types": dict(sorted(marker.types.items())),
            "entities": sum(marker.types.values()),
        },
    }
    return orjson.dumps(body)


def render(change: Change, notification_id: str | None = None, *, max_bytes: int | None = None) -> bytes:
    """The notification's JSON object as UTF-8 bytes (``notification_id`` if already computed).

    B08: past ``max_bytes`` the entity is left out (``entity: null``) and each changed value
    over a kilobyte is replaced by its size, with ``entity_omitted`` saying how large the
    whole was and where to read it (``poller show``); the change itself is still reported.
    """
    data = _dumps(change, notification_id, change.entity, change.changes)
    if max_bytes is None or len(data) <= max_bytes:
        return data
    changes = None if change.changes is None else [_shrunk(c) for c in change.changes]
    shrunk = _dumps(change, notification_id, None, changes, omitted=len(data), limit=max_bytes)
    if len(shrunk) > max_bytes:
        shrunk = _dumps(change, notification_id, None, [{"path": c.get("path")} for c in changes or []],
                        omitted=len(data), limit=max_bytes)
    return shrunk


_SMALL = 1024


def _shrunk(change: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(change)
    for side in ("old", "new"):
        size = len(orjson.dumps(change.get(side), default=_fallback))
        if size > _SMALL:
            out[side] = None
            out[f"{side}_omitted_bytes"] = size
    return out


def _dumps(change: Change, notification_id: str | None, entity: Any, changes: Any, *, omitted: int | None = None,
           limit: int | None = None) -> bytes:
    body: dict[str, Any] = {
        "id": notification_id or change.id,
        "specversion": "1.0",
        "type": f"poller.entity.{ACTIONS[change.action]}",
        "source": change.source,
        "subject": f"{change.entity_type}/{change.key}",
        "time": _iso(change.time),
        "epoch": change.epoch,
        "initial": change.initial,
        "run_id": change.run_id,
        "entity_type": change.entity_type,
        "key": change.key,
        "name": change.name,
        "parent": None if change.parent is None else {"type": change.parent[0], "key": change.parent[1]},
        "state": change.state,
        "project": change.project,
        "action": change.action,
        "version": change.version,
        "hash": change.hash,
        "previous_hash": change.previous_hash,
        "changes": None if changes is None else list(changes),
        "previous": dict(change.previous) if change.previous else None,
        "entity": entity,
    }
    if omitted is not None:
        body["entity_omitted"] = {
            "bytes": omitted, "limit": limit, "reason": "notification larger than notify.max_notification_bytes",
            "read": f"poller show {change.entity_type}/{change.key} --source {change.source}",
        }
    return orjson.dumps(body, default=_fallback)


@functools.lru_cache(maxsize=64)
def _iso(moment: datetime) -> str:
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _fallback(obj: Any) -> Any:
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    return str(obj)
