"""The pure diff: classifying listed entities against baseline hashes, planning
deletions (misses, the mass-deletion guard) and field-level changes.

No database, no clock, no I/O; everything it needs is passed in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import orjson

from baseline.canonical import escape_segment

_MISSING = object()


class Seen(Enum):
    """What one listed entity is, compared with the baseline and the listing so far."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    DUPLICATE = "duplicate"  # same key listed again with the same hash: collapses
    CONFLICT = "conflict"  # same key listed again with another hash: the listing is inconsistent


@dataclass
class TypeDiff:
    """Compares one listing of one type with the baseline's hashes, entity by entity.

    ``baseline`` maps key -> hash of the live (not tombstoned) baseline entities.
    Feed every listed entity to ``observe``; ``absent`` then gives the baseline keys
    the listing did not contain.
    """

    baseline: Mapping[str, int]
    seen: dict[str, int] = field(default_factory=dict)

    def observe(self, key: str, digest: int) -> Seen:
        """Classify one listed entity and remember it."""
        earlier = self.seen.get(key)
        if earlier is not None:
            return Seen.DUPLICATE if earlier == digest else Seen.CONFLICT
        self.seen[key] = digest
        old = self.baseline.get(key, _MISSING)
        if old is _MISSING:
            return Seen.CREATED
        return Seen.UNCHANGED if old == digest else Seen.UPDATED

    @property
    def unique_count(self) -> int:
        """How many distinct keys the listing held."""
        return len(self.seen)

    def absent(self) -> list[str]:
        """Baseline keys the listing did not contain, in a stable order."""
        seen = self.seen
        return sorted(k for k in self.baseline if k not in seen)


@dataclass(frozen=True)
class DeletionPolicy:
    """When absence becomes deletion: after ``min_misses`` complete listings in a row,
    unless it would delete more than ``max_fraction`` of the type (and at least
    ``min_count`` entities) without ``allow_mass_delete``."""

    min_misses: int = 1
    max_fraction: float = 0.5
    min_count: int = 10
    allow_mass_delete: bool = False


@dataclass(frozen=True)
class DeletionPlan:
    """What to do with the keys absent from a complete listing."""

    delete: tuple[str, ...] = ()
    missed: tuple[tuple[str, int], ...] = ()  # (key, new miss count) not yet deleted
    held: tuple[str, ...] = ()  # deletions withheld by the mass-deletion guard


def plan_deletions(
    absent: Iterable[str], misses: Mapping[str, int], baseline_count: int, policy: DeletionPolicy
) -> DeletionPlan:
    """Decide deletions for the absent keys; ``misses`` holds earlier consecutive misses."""
    due: list[str] = []
    missed: list[tuple[str, int]] = []
    for key in absent:
        count = misses.get(key, 0) + 1
        if count >= policy.min_misses:
            due.append(key)
        else:
            missed.append((key, count))
    if due and is_mass_deletion(len(due), baseline_count, policy):
        return DeletionPlan(held=tuple(due))
    return DeletionPlan(delete=tuple(due), missed=tuple(missed))


def is_mass_deletion(deletions: int, baseline_count: int, policy: DeletionPolicy) -> bool:
    """True when ``deletions`` out of ``baseline_count`` trips the mass-deletion guard."""
    if policy.allow_mass_delete or deletions < policy.min_count or baseline_count == 0:
        return False
    return deletions > math.floor(policy.max_fraction * baseline_count)


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One changed value: an RFC 6901 pointer into the entity's attributes, old and new.

    A value that did not exist on one side is reported as ``None`` there.
    """

    path: str
    old: Any
    new: Any

    def as_dict(self) -> dict[str, Any]:
        """The ``{path, old, new}`` object notifications carry."""
        return {"path": self.path, "old": self.old, "new": self.new}


def field_changes(old: Any, new: Any, ignored: Callable[[str], bool] = lambda _p: False) -> list[FieldChange]:
    """Every leaf-level difference between two JSON documents, in path order.

    Objects are compared key by key, lists of equal length element by element; a
    list whose length changed is reported whole. Paths for which ``ignored`` is
    true are left out.
    """
    out: list[FieldChange] = []
    _walk(old, new, "", out, ignored)
    return out


def _walk(old: Any, new: Any, path: str, out: list[FieldChange], ignored: Callable[[str], bool]) -> None:
    if path and ignored(path):
        return
    if type(old) is type(new):
        if not isinstance(old, dict | list):
            if old == new:
                return
        elif old == new and _same_json(old, new):
            return  # an unchanged subtree: C-level comparisons instead of a walk of its leaves
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            a, b = old.get(key), new.get(key)
            if type(a) is type(b) and a == b and (not isinstance(a, dict | list) or _same_json(a, b)):
                continue  # unchanged (what _walk would return first), without building its path
            _walk(a, b, f"{path}/{escape_segment(str(key))}", out, ignored)
        return
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            _walk(a, b, f"{path}/{index}", out, ignored)
        return
    if not _strict_equal(old, new):
        out.append(FieldChange(path, old, new))


def _same_json(a: Any, b: Any) -> bool:
    """True when two JSON values serialize alike with sorted keys (which tells 1, 1.0 and True apart)."""
    try:
        return orjson.dumps(a, option=orjson.OPT_SORT_KEYS) == orjson.dumps(b, option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONEncodeError, TypeError):
        return False  # not plain JSON: walk it


def _strict_equal(a: Any, b: Any) -> bool:
    """Equality that tells 1, 1.0 and True apart, at every depth."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_strict_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_strict_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def entity_document(
    name: str | None, parent: tuple[str, str] | None, state: str | None, project: str | None, attributes: Any
) -> dict[str, Any]:
    """The document that is hashed and stored for an entity: attributes plus its envelope."""
    return {
        "attributes": attributes,
        "name": name,
        "parent": None if parent is None else {"type": parent[0], "key": parent[1]},
        "project": project,
        "state": state,
    }


ENVELOPE_FIELDS = ("name", "parent", "project", "state")
_DOC_HEAD = b'{"attributes":'
_NAME_KEY = b',"name":'


def split_document(data: bytes) -> tuple[bytes, dict[str, Any]]:
    """The attributes' JSON bytes and the parsed envelope of a canonical entity document.

    Creates need the attributes only to pass them on, so they are cut out of the bytes
    rather than parsed: with keys sorted, the envelope follows the attributes, and the
    last top-level ``,"name":`` is the envelope's (keys inside strings are escaped, and
    the fields after ``name`` hold no ``name`` key).
    """
    cut = data.rfind(_NAME_KEY)
    if not data.startswith(_DOC_HEAD) or cut < 0:
        doc = orjson.loads(data)
        return orjson.dumps(doc.get("attributes"), option=orjson.OPT_SORT_KEYS), doc
    envelope = orjson.loads(b"{" + data[cut + 1 :])
    return data[len(_DOC_HEAD) : cut], envelope


def envelope_changes(old_doc: Mapping[str, Any], new_doc: Mapping[str, Any]) -> dict[str, Any]:
    """The previous values of the envelope fields (name, parent, project, state) that changed."""
    return {f: old_doc.get(f) for f in ENVELOPE_FIELDS if old_doc.get(f) != new_doc.get(f)}
