"""One CloudStack list page as raw bytes: the cheap summary the pager needs, and its pure decoder.

``summarize`` reads, without building the rows, what the consistency checks need from
an answer (the reported count, each row's identity); ``decode_page`` (module-level, so
it pickles by reference) parses the answer and maps the page's rows to Entities,
possibly in a worker process. Neither does I/O, keeps state or logs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import msgspec
import orjson

from collectors.base import Entity
from collectors.cloudstack.mapping import MAPPERS
from collectors.errors import ListingIncomplete

ABSENT = msgspec.UNSET  # the answer has no count member


@dataclass(frozen=True, slots=True)
class Summary:
    """What the pager knows of one answer: the count member (ABSENT when missing, as sent
    otherwise) and each row's identity (id, plus the zone for templates and ISOs)."""

    count: Any
    identities: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class PageContext:
    """What ``decode_page`` needs besides the body: where the page is (for errors), under which key
    its rows are, how many rows the pager saw and which to map, in order (None for all)."""

    source: str
    etype: str
    page: str
    key: str
    count: int
    keep: tuple[int, ...] | None = None


def loads(data: bytes) -> Any:
    """Parse a JSON body as ``requests``' ``Response.json()`` (the stdlib json) would; orjson first
    for speed, the stdlib for what orjson refuses (NaN, huge integers); ValueError when not JSON."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def summarize(data: bytes, key: str, zones: bool) -> Summary | None:
    """The answer's summary, read without building its rows; None when the answer is not the usual
    ``{"<command>response": {"count": N, "<key>": [{...}, ...]}}`` (then it is parsed whole)."""
    try:
        outer = msgspec.json.decode(data, type=dict[str, msgspec.Raw])
        if len(outer) != 1:
            return None
        (inner,) = outer.values()
        answer = msgspec.json.decode(inner, type=_answer_type(key, zones))
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    rows = answer.rows or []
    if zones:
        identities = tuple((str(r.ident), "" if r.zone is ABSENT else str(r.zone)) for r in rows)
    else:
        identities = tuple((str(r.ident), "") for r in rows)
    return Summary(answer.count, identities)


def decode_page(data: bytes, context: PageContext) -> list[Entity]:
    """The Entities of one page; ListingIncomplete naming the page when the answer is not JSON, not
    shaped as the pager saw it, or holds a row that cannot be mapped."""
    c = context
    where = f"{c.etype}: {c.page} (source {c.source})"
    try:
        body = loads(data)
    except ValueError as exc:
        raise ListingIncomplete(f"{where}: the answer is not valid JSON (malformed JSON)") from exc
    inner = next(iter(body.values())) if isinstance(body, dict) and len(body) == 1 else None
    rows = inner.get(c.key) if isinstance(inner, dict) else None
    if not isinstance(rows, list) or len(rows) != c.count:
        raise ListingIncomplete(f"{where}: the answer differs from the one paged ({c.count} rows at {c.key})")
    mapper = MAPPERS[c.etype]
    return [_map(mapper, rows[index], index, where) for index in (c.keep if c.keep is not None else range(len(rows)))]


# What a row's raw bytes are suffixed with before they are hashed (split_page): bump it when a
# mapping in mapping.py changes the entity a row maps to, so that no row counts as unchanged
# under the old mapping. NUL never occurs in JSON text, so the suffix cannot blend into a row.
RECORD_SCHEME = b"\x00cloudstack-1"


def split_page(data: bytes, context: PageContext) -> tuple[list[bytes], list[int]] | None:
    """The rows to map (``context.keep``, in order) as their raw bytes followed by RECORD_SCHEME (a
    row alone determines its entity), and their indexes in the answer; None when the answer is not
    of the usual shape (it is then decoded whole)."""
    c = context
    try:
        outer = msgspec.json.decode(data, type=dict[str, msgspec.Raw])
        if len(outer) != 1:
            return None
        (inner,) = outer.values()
        rows = msgspec.json.decode(inner, type=_raw_answer_type(c.key)).rows
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    if rows is None or len(rows) != c.count:
        return None  # decode_page names the difference
    indexes = list(c.keep) if c.keep is not None else list(range(len(rows)))
    return [bytes(rows[i]) + RECORD_SCHEME for i in indexes], indexes


def parse_records(records: list[bytes], indexes: list[int], context: PageContext) -> list[tuple[int, Entity]]:
    """(position in ``records``, entity) for each of split_page's rows, mapped as decode_page maps them."""
    c = context
    where = f"{c.etype}: {c.page} (source {c.source})"
    mapper = MAPPERS[c.etype]
    out: list[tuple[int, Entity]] = []
    for position, (record, index) in enumerate(zip(records, indexes, strict=True)):
        try:
            row = loads(record[: record.index(RECORD_SCHEME)])
        except ValueError as exc:
            raise ListingIncomplete(f"{where}: the answer is not valid JSON (malformed JSON)") from exc
        out.append((position, _map(mapper, row, index, where)))
    return out


def _map(mapper: Any, row: Any, index: int, where: str) -> Entity:
    """One row as its entity; ListingIncomplete naming the row when a required field is missing."""
    try:
        return mapper(row)  # type: ignore[no-any-return]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ListingIncomplete(f"{where}: row {index + 1} cannot be mapped ({type(exc).__name__} "
                                f"on a required field)") from exc


@lru_cache(maxsize=64)
def _raw_answer_type(key: str) -> type:
    """A msgspec Struct holding each row of the ``key`` list as its raw bytes (validated, not built)."""
    return msgspec.defstruct(f"RawAnswer_{key}", [
        ("rows", list[msgspec.Raw] | None, msgspec.field(default=None, name=key)),
    ])


@lru_cache(maxsize=64)
def _answer_type(key: str, zones: bool) -> type:
    """A msgspec Struct reading the count and each row's id (and zone); the rest is skipped, validated."""
    row_fields: list[tuple[str, Any, Any]] = [("ident", Any, msgspec.field(default=None, name="id"))]
    if zones:
        row_fields.append(("zone", Any, msgspec.field(default=ABSENT, name="zoneid")))
    row = msgspec.defstruct(f"Row_{key}", row_fields)
    return msgspec.defstruct(f"Answer_{key}", [
        ("count", Any, ABSENT),
        ("rows", list[row] | None, msgspec.field(default=None, name=key)),  # type: ignore[valid-type]
    ])
