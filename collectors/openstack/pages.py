"""One OpenStack listing page as raw bytes: the cheap summary the pager needs, and its pure decoder.

``summarize`` reads, without building the records, what paging needs from a page body
(each record's key, the next link, ``truncated``; for servers their status and
hypervisor); ``decode_page`` (module-level, so it pickles by reference) parses the body
and maps the page's records to Entities, possibly in a worker process. Neither does
I/O, keeps state or logs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import msgspec
import orjson

from collectors.base import Entity, Gone
from collectors.errors import ListingIncomplete
from collectors.openstack.mapping import MAPPERS, server_entity

HOST_FIELD = "OS-EXT-SRV-ATTR:hypervisor_hostname"
_ABSENT = msgspec.UNSET


@dataclass(frozen=True, slots=True)
class PageContext:
    """What ``decode_page`` needs besides the body: which records to map and how.

    ``keep`` holds the indexes (in output order) of the records to map, None for all;
    ``count`` is how many records the pager saw on the page; ``delta`` turns servers
    whose status is DELETED into Gone; ``hosts`` maps the page's hypervisor hostnames
    to hypervisor ids (None when the credentials may not see hypervisors).
    """

    source: str
    etype: str
    page: int
    key: str
    id_field: str
    count: int
    keep: tuple[int, ...] | None = None
    delta: bool = False
    hosts: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Summary:
    """What the pager knows of one page: each record's key (None when it has none), the next
    link, whether the API said it truncated the list, and per-record status and host (servers)."""

    keys: tuple[str | None, ...]
    next_href: str | None
    truncated: bool
    statuses: tuple[Any, ...] = ()
    hosts: tuple[Any, ...] = ()


class Unusual(Exception):
    """Internal: the page is valid JSON of a shape the fast summary does not read (parse it whole)."""


def loads(data: bytes) -> Any:
    """Parse a JSON body exactly as ``requests``' ``Response.json()`` (the stdlib json) would;
    orjson first for speed, the stdlib for what orjson refuses (NaN, huge integers); ValueError
    when it is not JSON."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def summarize(data: bytes, key: str, id_field: str, servers: bool = False) -> Summary:
    """The page's summary read without building its records; Unusual when the body has a shape
    (not an object, records not objects, keypair wrappers...) this reader does not take, and
    ValueError when it is not JSON (msgspec validates the parts it skips)."""
    try:
        page = msgspec.json.decode(data, type=_page_type(key, id_field, servers))
    except msgspec.ValidationError as exc:
        raise Unusual(str(exc)) from exc
    except msgspec.DecodeError as exc:
        raise Unusual(str(exc)) from exc  # maybe NaN or a lone surrogate the stdlib accepts
    keys = []
    for rec in page.items:
        if rec.wrapped is not _ABSENT:
            raise Unusual("a wrapped record")
        keys.append(None if rec.ident is None else str(rec.ident))
    links = {name: value for name, value in ((f"{key}_links", page.own_links), ("links", page.links),
                                             ("next", page.next)) if value is not None}
    return Summary(tuple(keys), next_href(links, key), bool(page.truncated),
                   tuple(rec.status for rec in page.items) if servers else (),
                   tuple(rec.host for rec in page.items) if servers else ())


def summary_of(body: Any, key: str, id_field: str, servers: bool = False) -> Summary | None:
    """The summary of an already parsed body; None when it has no ``key`` list."""
    items = body.get(key) if isinstance(body, dict) else None
    if not isinstance(items, list):
        return None
    raws = [item if isinstance(item, dict) else {} for item in items]
    return Summary(tuple(item_key(item, id_field) for item in items), next_href(body, key),
                   bool(body.get("truncated")),
                   tuple(raw.get("status") for raw in raws) if servers else (),
                   tuple(raw.get(HOST_FIELD) for raw in raws) if servers else ())


def decode_page(data: bytes, context: PageContext) -> list[Entity | Gone]:
    """The Entities (and, in a delta, Gone markers) of one page; ListingIncomplete naming the page
    when the body is not JSON, has no list under the key, differs from what the pager saw, or
    holds a record that has no key or cannot be mapped."""
    c = context
    where = f"source {c.source!r}: page {c.page} of {c.etype}"
    try:
        body = loads(data)
    except ValueError as exc:
        raise ListingIncomplete(f"{where} is not valid JSON (malformed JSON)") from exc
    items = body.get(c.key) if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise ListingIncomplete(f"{where} has no {c.key!r} list")
    if len(items) != c.count:
        raise ListingIncomplete(f"{where} holds {len(items)} records where {c.count} were paged")
    mapper = MAPPERS[c.etype]
    servers = c.etype == "compute.server"
    return [_map(items[index], index, c, where, mapper, servers)
            for index in (c.keep if c.keep is not None else range(len(items)))]


# What a record's raw bytes are suffixed with before they are hashed (split_page): bump it when a
# mapping in mapping.py changes the entity a record maps to, so that no record counts as unchanged
# under the old mapping. NUL never occurs in JSON text, so the suffix cannot blend into a record.
RECORD_SCHEME = b"\x00openstack-1"


def split_page(data: bytes, context: PageContext) -> tuple[list[bytes], list[int]] | None:
    """The records to map (``context.keep``, in order) as their raw bytes, each followed by
    RECORD_SCHEME and, for a server, the hypervisor id its hostname maps to and whether a delta
    reads it as deleted (what its entity depends on besides its bytes); their indexes on the
    page. None when the page is not of the shape the pager read fast (it is then decoded whole)."""
    c = context
    try:
        raws = msgspec.json.decode(data, type=_raw_page_type(c.key)).items
        summary = summarize(data, c.key, c.id_field, servers=True) if c.etype == "compute.server" else None
    except (msgspec.ValidationError, msgspec.DecodeError, Unusual):
        return None
    if len(raws) != c.count:
        return None  # decode_page names the difference
    indexes = list(c.keep) if c.keep is not None else list(range(len(raws)))
    if summary is None:
        return [bytes(raws[i]) + RECORD_SCHEME for i in indexes], indexes
    records = []
    for i in indexes:
        host = summary.hosts[i]
        try:
            parent = c.hosts.get(host, "") if host and c.hosts else ""
        except TypeError:  # an unhashable hostname: decode_page refuses the record
            parent = "?"
        deleted = b"\x00deleted" if c.delta and summary.statuses[i] == "DELETED" else b""
        records.append(bytes(raws[i]) + RECORD_SCHEME + b"\x00" + str(parent).encode() + deleted)
    return records, indexes


def parse_records(records: list[bytes], indexes: list[int], context: PageContext) -> list[tuple[int, Entity | Gone]]:
    """(position in ``records``, item) for each of split_page's records, mapped as decode_page maps them."""
    c = context
    where = f"source {c.source!r}: page {c.page} of {c.etype}"
    mapper = MAPPERS[c.etype]
    servers = c.etype == "compute.server"
    out: list[tuple[int, Entity | Gone]] = []
    for position, (record, index) in enumerate(zip(records, indexes, strict=True)):
        try:
            raw = loads(record[: record.index(RECORD_SCHEME)])
        except ValueError as exc:
            raise ListingIncomplete(f"{where} is not valid JSON (malformed JSON)") from exc
        out.append((position, _map(raw, index, c, where, mapper, servers)))
    return out


def _map(raw: Any, index: int, c: PageContext, where: str, mapper: Any, servers: bool) -> Entity | Gone:
    """One record of a page as its entity (or, a server deleted in a delta, Gone); ListingIncomplete if it cannot be."""
    key = item_key(raw, c.id_field)
    if key is None:
        raise ListingIncomplete(f"{where}: record {index + 1} has no {c.id_field!r}")
    try:
        if servers:
            if c.delta and raw.get("status") == "DELETED":
                return Gone("compute.server", str(raw["id"]))
            return server_entity(raw, c.hosts)
        return mapper(raw)  # type: ignore[no-any-return]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ListingIncomplete(f"{where}: record {key!r} cannot be mapped ({type(exc).__name__})") from exc


def next_href(body: Any, key: str) -> str | None:
    """The next link of a listing answer: Nova/Cinder ``<key>_links``, Heat ``links``, Glance ``next``."""
    if not isinstance(body, dict):
        return None
    for links in (body.get(f"{key}_links"), body.get("links")):
        if isinstance(links, list):
            for link in links:
                if isinstance(link, dict) and link.get("rel") == "next" and link.get("href"):
                    return str(link["href"])
        elif isinstance(links, dict) and links.get("next"):
            return str(links["next"])
    nxt = body.get("next")
    return str(nxt) if isinstance(nxt, str) and nxt else None


def item_key(item: Any, id_field: str) -> str | None:
    """A listed record's key (keypairs come wrapped in ``{"keypair": ...}``); None when it has none."""
    body = item.get("keypair", item) if isinstance(item, dict) else item
    if not isinstance(body, dict) or body.get(id_field) is None:
        return None
    return str(body[id_field])


@lru_cache(maxsize=64)
def _page_type(key: str, id_field: str, servers: bool) -> type:
    """A msgspec Struct reading only the members paging needs (everything else is skipped, validated)."""
    record_fields: list[tuple[str, Any, Any]] = [
        ("ident", Any, msgspec.field(default=None, name=id_field)),
        ("wrapped", Any, msgspec.field(default=_ABSENT, name="keypair")),
    ]
    if servers:
        record_fields += [("status", Any, None), ("host", Any, msgspec.field(default=None, name=HOST_FIELD))]
    record = msgspec.defstruct(f"Record_{key}", record_fields)
    return msgspec.defstruct(f"Page_{key}", [
        ("items", list[record], msgspec.field(name=key)),  # type: ignore[valid-type]
        ("own_links", Any, msgspec.field(default=None, name=f"{key}_links")),
        ("links", Any, None),
        ("next", Any, None),
        ("truncated", Any, None),
    ])


@lru_cache(maxsize=64)
def _raw_page_type(key: str) -> type:
    """A msgspec Struct holding each record of the ``key`` list as its raw bytes (validated, not built)."""
    return msgspec.defstruct(f"RawPage_{key}", [("items", list[msgspec.Raw], msgspec.field(name=key))])
