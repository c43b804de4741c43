"""Canonical serialization and the xxh3-64 hash of an entity document.

Owns the hashing scheme (its rules and its version number). Pure: no database, no
clock, no I/O. Never imports a collector.

The scheme (version 1), pinned by golden vectors in tests/baseline:
- UTF-8 JSON, object keys sorted at every depth, no insignificant whitespace;
- datetimes as ISO-8601 in UTC with a ``Z`` suffix (naive ones are taken as UTC),
  dates as ``YYYY-MM-DD``; sets and frozensets as lists sorted by their members'
  canonical bytes; tuples as lists;
- non-finite floats (NaN, Infinity) as ``null``, as ECMAScript's JSON.stringify writes them;
- integers outside the exact range of an IEEE double (|n| > 2**53 - 1, I-JSON,
  RFC 7493) as their decimal strings;
- object keys that are not strings as their ``str()``; an object in which two keys
  become the same string (``{1: "a", "1": "b"}``) is an error, never one silently kept;
- a string holding lone surrogates as the string with each surrogate written as
  the literal six characters ``\\udXXX`` (lower-case hex);
- any other value (bytes, arbitrary objects) is an error: the entity is invalid.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson
import xxhash

from baseline.errors import CanonicalError

SCHEME_VERSION = 1

_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER | orjson.OPT_PASSTHROUGH_DATETIME
_MAX_EXACT = 2**53 - 1


def canonical_bytes(value: Any) -> bytes:
    """Serialize ``value`` by the canonical rules above; CanonicalError if it cannot be."""
    try:
        return orjson.dumps(value, option=_OPTIONS, default=_default)
    except orjson.JSONEncodeError:
        return _dumps_normalized(value)


def hash_bytes(data: bytes) -> int:
    """The xxh3-64 digest of ``data`` as an unsigned integer."""
    return xxhash.xxh3_64_intdigest(data)


def hash_hex(digest: int) -> str:
    """The 16-hex-digit form of a digest, as notifications carry it."""
    return f"{digest:016x}"


def _dumps_normalized(value: Any) -> bytes:
    try:
        return orjson.dumps(_normalize(value), option=_OPTIONS, default=_default)
    except (orjson.JSONEncodeError, TypeError, ValueError) as exc:
        raise CanonicalError(f"value cannot be serialized canonically: {_reason(exc)}") from exc


def _reason(exc: BaseException) -> str:
    text = str(exc)
    return text.split(":", 1)[0] if len(text) > 80 else text


def _default(obj: Any) -> Any:
    if isinstance(obj, datetime):
        if obj.tzinfo is not None:
            obj = obj.astimezone(UTC).replace(tzinfo=None)
        return obj.isoformat() + "Z"
    if isinstance(obj, date):
        return obj.isoformat()
    if isinstance(obj, set | frozenset):
        return sorted((_normalize(v) for v in obj), key=canonical_bytes)
    if isinstance(obj, Decimal):
        return _normalize(int(obj)) if obj == obj.to_integral_value() else _normalize(float(obj))
    raise TypeError(f"type {type(obj).__name__} is not JSON-able")


def _normalize(value: Any) -> Any:
    """Apply the value rules orjson does not know (slow path, rare)."""
    kind = type(value)
    if kind is dict or isinstance(value, Mapping):
        normalized = {_normalize_key(k): _normalize(v) for k, v in value.items()}
        if len(normalized) != len(value):
            raise CanonicalError(f"object has keys that collide as strings: {_colliding(value)}")
        return normalized
    if kind is list or kind is tuple:
        return [_normalize(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((_normalize(v) for v in value), key=canonical_bytes)
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is int:
        return value if -_MAX_EXACT <= value <= _MAX_EXACT else str(value)
    if kind is str:
        return _escape_surrogates(value)
    return value


def _colliding(mapping: Mapping[Any, Any]) -> str:
    seen: dict[str, Any] = {}
    for key in mapping:
        text = _normalize_key(key)
        if text in seen:
            return f"{seen[text]!r} and {key!r}"[:120]
        seen[text] = key
    return "?"


def _normalize_key(key: Any) -> str:
    return _escape_surrogates(key) if isinstance(key, str) else str(key)


def _escape_surrogates(text: str) -> str:
    if not any("\ud800" <= ch <= "\udfff" for ch in text):
        return text
    return "".join(f"\\u{ord(ch):04x}" if "\ud800" <= ch <= "\udfff" else ch for ch in text)


# --------------------------------------------------------------------------- paths

def parse_pointer(pattern: str) -> tuple[str, ...]:
    """Split an RFC 6901 JSON pointer (``*`` = any one segment) into its segments."""
    if pattern == "":
        return ()
    if not pattern.startswith("/"):
        raise CanonicalError(f"JSON pointer {pattern!r} must start with '/'")
    return tuple(seg.replace("~1", "/").replace("~0", "~") for seg in pattern[1:].split("/"))


def escape_segment(segment: str) -> str:
    """Escape one path segment for an RFC 6901 pointer."""
    return segment.replace("~", "~0").replace("/", "~1")


def _children(container: Any, segment: str) -> Iterable[tuple[Any, Any]]:
    """(index-or-key, child) pairs of ``container`` matched by ``segment``."""
    if isinstance(container, dict):
        if segment == "*":
            return list(container.items())
        return [(segment, container[segment])] if segment in container else []
    if isinstance(container, list):
        if segment == "*":
            return list(enumerate(container))
        if segment.isdigit() and int(segment) < len(container):
            return [(int(segment), container[int(segment)])]
    return []


def _rewrite(value: Any, segments: Sequence[str], leaf: Callable[[Any, Any], Any]) -> Any:
    """Copy-on-write rewrite of what ``segments`` match; ``leaf(container, k)`` returns the new container."""
    if not segments:
        return value
    head, rest = segments[0], segments[1:]
    matches = list(_children(value, head))
    if not matches:
        return value
    if not rest:
        out = value
        for k, _child in reversed(matches):
            out = leaf(out, k)
        return out
    out = value
    for k, child in matches:
        new_child = _rewrite(child, rest, leaf)
        if new_child is not child:
            if out is value:
                out = dict(value) if isinstance(value, dict) else list(value)
            out[k] = new_child
    return out


def _remove(container: Any, k: Any) -> Any:
    copy = dict(container) if isinstance(container, dict) else list(container)
    del copy[k]
    return copy


def _sort_set(container: Any, k: Any) -> Any:
    member = container[k]
    if not isinstance(member, list) or len(member) < 2:
        return container
    ordered = sorted(member, key=canonical_bytes)
    if ordered == member:
        return container
    copy = dict(container) if isinstance(container, dict) else list(container)
    copy[k] = ordered
    return copy


REDACTED_PREFIX = "hmac-sha256:"


def _without_empty(value: Any) -> Any:
    """``value`` with every object member whose value is null, [] or {} (once emptied) left out."""
    if isinstance(value, dict):
        out = {}
        for key, child in value.items():
            child = _without_empty(child)
            if child is None or child == [] or child == {}:
                continue
            out[key] = child
        return out
    if isinstance(value, list):
        return [_without_empty(child) for child in value]
    return value


def _select(value: Any, patterns: Sequence[tuple[str, ...]]) -> Any:
    """Only what the patterns reach (an allowlist): the matched subtrees, with their containers."""
    if any(not p for p in patterns):
        return value  # a pattern that ended here keeps the whole subtree
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, child in value.items():
            below = [p[1:] for p in patterns if p[0] in ("*", key)]
            if below:
                out[key] = _select(child, below)
        return out
    if isinstance(value, list):
        kept = []
        for index, child in enumerate(value):
            below = [p[1:] for p in patterns if p[0] == "*" or (p[0].isdigit() and int(p[0]) == index)]
            if below:
                kept.append(_select(child, below))
        return kept
    return value


@dataclass(frozen=True)
class Rules:
    """The hashing rules of one entity type in one source.

    ``ignore`` are pointer patterns into attributes removed before hashing,
    ``sets`` patterns of lists sorted before hashing. ``fingerprint`` identifies
    the rules together with the scheme version and the collector's own type
    fingerprint; a baseline hashed under another fingerprint is re-hashed from its
    stored payloads instead of being reported as changed.

    The field policy shapes what is kept at all (``shape``: before hashing, storing and
    emitting): ``keep`` an allowlist of pointer patterns (empty: everything), ``drop`` a
    denylist, ``redact`` values replaced by a keyed HMAC under ``redaction_key`` (so a
    change is still seen, and the value is never stored or emitted).
    """

    ignore: tuple[str, ...] = ()
    sets: tuple[str, ...] = ()
    type_fingerprint: str = ""
    keep: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    redact: tuple[str, ...] = ()
    redaction_key: bytes = field(default=b"", repr=False)
    empty_equals_missing: bool = False

    @property
    def shapes(self) -> bool:
        """True when a field policy changes the attributes themselves (not only their hash)."""
        return bool(self.keep or self.drop or self.redact)

    @property
    def fingerprint(self) -> str:
        """A short text that changes whenever these rules hash differently."""
        parts: list[Any] = [SCHEME_VERSION, sorted(self.ignore), sorted(self.sets), self.type_fingerprint]
        if self.shapes:
            key_id = hashlib.sha256(b"poller-redaction-key-id:" + self.redaction_key).hexdigest()[:16]
            parts.append([sorted(self.keep), sorted(self.drop), sorted(self.redact), key_id])
        if self.empty_equals_missing:
            parts.append("empty=missing")
        material = canonical_bytes(parts)
        return f"v{SCHEME_VERSION}-{hash_hex(hash_bytes(material))}"

    def shape(self, attributes: Mapping[str, Any]) -> Any:
        """The attributes as kept: the allowlist applied, denied paths removed, redacted values masked."""
        out: Any = attributes
        if self.keep:
            out = _select(out, [parse_pointer(p) for p in self.keep])
        for pattern in self.drop:
            out = _rewrite(out, parse_pointer(pattern), _remove)
        for pattern in self.redact:
            out = _rewrite(out, parse_pointer(pattern), self._mask)
        return out

    def _mask(self, container: Any, k: Any) -> Any:
        value = container[k]
        if isinstance(value, str) and value.startswith(REDACTED_PREFIX):
            return container
        digest = hmac.new(self.redaction_key, canonical_bytes(value), hashlib.sha256).hexdigest()[:32]
        copy = dict(container) if isinstance(container, dict) else list(container)
        copy[k] = REDACTED_PREFIX + digest
        return copy

    def normalize(self, attributes: Mapping[str, Any]) -> Any:
        """The attributes as hashed: ignored paths removed, set lists sorted, and with
        ``empty_equals_missing`` object members that are null, [] or {} left out (B14)."""
        out: Any = _without_empty(attributes) if self.empty_equals_missing else attributes
        for pattern in self.ignore:
            out = _rewrite(out, parse_pointer(pattern), _remove)
        for pattern in self.sets:
            out = _rewrite(out, parse_pointer(pattern), _sort_set)
        return out

    def is_ignored(self, path: str) -> bool:
        """True when the pointer ``path`` lies at or under an ignored pattern."""
        if not self.ignore:
            return False
        segments = parse_pointer(path)
        for pattern in self.ignore:
            pat = parse_pointer(pattern)
            if len(segments) >= len(pat) and all(p in ("*", s) for p, s in zip(pat, segments, strict=False)):
                return True
        return False


def merge_ignore(defaults: Sequence[str], configured: Sequence[str]) -> tuple[str, ...]:
    """The effective ignore list: defaults plus configured paths, minus ``!/path`` removals."""
    removed = {p[1:] for p in configured if p.startswith("!")}
    added = [p for p in configured if not p.startswith("!")]
    seen: dict[str, None] = {}
    for pattern in [*defaults, *added]:
        if pattern not in removed:
            seen[pattern] = None
    return tuple(seen)
