"""The ``cloudstack`` collector: CloudStack inventories through signed ``list*`` calls.

Owns option validation, the listing plan of each type (command, ``listall``, the
``projectid=-1`` pass), paging with consistency checks (one relist, then incomplete),
``fetch`` by id and event translation. Every cloud call goes through ``client.py``;
it never imports ``poller/`` or ``baseline/`` and lets only ``collectors.errors`` out.
"""

from __future__ import annotations

import builtins
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from collectors.base import (
    Collector,
    Entity,
    EntityType,
    ListContext,
    Listing,
    ListingGenerator,
    RawPage,
    optional_option,
    reject_unknown_options,
    require_option,
)
from collectors.cloudstack import mapping
from collectors.cloudstack import types as t
from collectors.cloudstack.client import CloudStackClient, IdNotFound
from collectors.cloudstack.events import translate
from collectors.cloudstack.pages import ABSENT, PageContext, decode_page, loads, parse_records, split_page
from collectors.durations import duration_option
from collectors.errors import ListingIncomplete, OptionError

log = logging.getLogger(__name__)

KNOWN_OPTIONS = ("endpoint", "api_key", "secret_key", "page_size", "timeout", "verify", "expires", "retries",
                 "retry_backoff")
DEFAULT_EXPIRES = 600


@dataclass(frozen=True)
class Plan:
    """How one type is listed: the command, the object key in its answer, fixed parameters, project pass."""

    command: str
    key: str
    params: Mapping[str, Any] = field(default_factory=dict)
    projects: bool = False

    def passes(self) -> tuple[dict[str, Any], ...]:
        """Parameter sets whose union is the whole listing.

        Without ``projectid`` CloudStack skips project resources; ``projectid=-1`` lists
        project resources only (AccountManagerImpl.buildACLSearchParameters), so both are needed.
        """
        base = dict(self.params)
        return (base, {**base, "projectid": -1}) if self.projects else (base,)

    def identity(self, raw: Mapping[str, Any]) -> tuple[str, str]:
        """What is unique per record: the id, plus the zone for per-zone template/ISO records.

        listTemplates/listIsos count distinct ``temp_zone_pair`` rows (QueryManagerImpl
        searchForTemplatesInternal), so their count is compared with (id, zone) pairs.
        """
        return str(raw.get("id")), str(raw.get("zoneid", "")) if self.key in ("template", "iso") else ""


_ALL = {"listall": True}
PLANS: dict[str, Plan] = {
    t.ZONE.name: Plan("listZones", "zone"),
    t.POD.name: Plan("listPods", "pod"),
    t.CLUSTER.name: Plan("listClusters", "cluster"),
    t.HOST.name: Plan("listHosts", "host"),
    t.STORAGEPOOL.name: Plan("listStoragePools", "storagepool"),
    t.IMAGESTORE.name: Plan("listImageStores", "imagestore"),
    t.SYSTEMVM.name: Plan("listSystemVms", "systemvm"),
    t.ROUTER.name: Plan("listRouters", "router", _ALL, projects=True),
    t.VIRTUALMACHINE.name: Plan("listVirtualMachines", "virtualmachine", _ALL, projects=True),
    t.VOLUME.name: Plan("listVolumes", "volume", _ALL, projects=True),
    t.SNAPSHOT.name: Plan("listSnapshots", "snapshot", _ALL, projects=True),
    t.NETWORK.name: Plan("listNetworks", "network", _ALL, projects=True),
    t.VPC.name: Plan("listVPCs", "vpc", _ALL, projects=True),
    t.PUBLICIPADDRESS.name: Plan("listPublicIpAddresses", "publicipaddress", _ALL, projects=True),
    t.TEMPLATE.name: Plan("listTemplates", "template", {**_ALL, "templatefilter": "all"}, projects=True),
    t.ISO.name: Plan("listIsos", "iso", {**_ALL, "isofilter": "all"}, projects=True),
    t.SERVICEOFFERING.name: Plan("listServiceOfferings", "serviceoffering"),
    t.DISKOFFERING.name: Plan("listDiskOfferings", "diskoffering"),
    t.NETWORKOFFERING.name: Plan("listNetworkOfferings", "networkoffering"),
    t.DOMAIN.name: Plan("listDomains", "domain", _ALL),
    t.ACCOUNT.name: Plan("listAccounts", "account", _ALL),
    t.PROJECT.name: Plan("listProjects", "project", _ALL),
    t.SECURITYGROUP.name: Plan("listSecurityGroups", "securitygroup", _ALL, projects=True),
}


class _Inconsistent(Exception):
    """Internal: one read of a listing was not self-consistent (the reason says how)."""


class CloudStackCollector(Collector):
    """Snapshots an Apache CloudStack cloud (root-admin keys) through its signed query API.

    Options: ``endpoint``, ``api_key``, ``secret_key`` (required), ``page_size`` (500),
    ``timeout`` (30 s), ``verify`` (true, false or a CA bundle path), ``expires`` (true,
    false or seconds; signatureVersion 3), ``retries`` (3), ``retry_backoff`` (1.0 s).
    """

    name = "cloudstack"
    entity_types = t.ALL_TYPES

    def __init__(self, source: str, options: Mapping[str, Any]) -> None:
        super().__init__(source, options)
        reject_unknown_options(source, options, KNOWN_OPTIONS)
        endpoint = require_option(source, options, "endpoint", str)
        if not endpoint.startswith(("http://", "https://")):
            raise OptionError(source, "endpoint", "must be an http:// or https:// URL (…/client/api)")
        api_key = _non_empty(source, options, "api_key")
        secret_key = _non_empty(source, options, "secret_key")
        self.page_size = _positive(source, options, "page_size", int, 500)
        timeout = duration_option(source, options, "timeout", 30.0)
        if timeout <= 0:
            raise OptionError(source, "timeout", "must be greater than 0")
        retries = optional_option(source, options, "retries", int, 3)
        backoff = optional_option(source, options, "retry_backoff", (int, float), 1.0)
        if retries < 0 or backoff < 0:
            raise OptionError(source, "retries" if retries < 0 else "retry_backoff", "must not be negative")
        self.verify = _verify(source, options)
        expires = _expires(source, options)
        self._client = CloudStackClient(source, endpoint, api_key, secret_key, timeout=float(timeout),
                                        verify=self.verify, expires=expires, retries=retries, backoff=float(backoff))

    # -- contract ------------------------------------------------------------------------------

    def connect(self) -> None:
        """One ``listCapabilities`` call before any type is listed: keys and endpoint work, or SourceFailed."""
        self._client.probe()

    def list(self, etype: EntityType, context: ListContext) -> Listing:
        """A full listing of ``etype``, complete only if paging stayed consistent."""
        return Listing(etype.name, self._listing(etype))

    def fetch(self, etype: EntityType, key: str) -> Entity | None:
        """Re-read one entity by id (``id=`` plus ``listall``, projects included); None when it is gone."""
        plan = PLANS[etype.name]
        records: builtins.list[Mapping[str, Any]] = []
        for params in plan.passes():
            try:
                data = self._client.lookup(etype.name, plan.command, {**params, "id": key})
            except IdNotFound:
                return None
            records.extend(row for row in data.get(plan.key) or [] if str(row.get("id")) == key)
            if records:
                break
        entities = mapping.to_entities(etype.name, records)
        return entities[0] if entities else None

    def translate_event(self, event: Mapping[str, Any]) -> builtins.list[tuple[str, str]]:
        """(type, key) pairs named by a CloudStack event-bus message (action or resource-state event)."""
        return translate(event)

    def warnings(self) -> builtins.list[str]:
        """A warning on every run while TLS certificate verification is off."""
        if self.verify is False:
            return [f"source {self.source}: TLS certificate verification is OFF (verify: false); "
                    "the API keys can be intercepted"]
        return []

    def close(self) -> None:
        """Close the HTTP session."""
        self._client.close()

    # -- listing ----------------------------------------------------------------------------------

    def _listing(self, etype: EntityType) -> ListingGenerator:
        plan = PLANS[etype.name]
        try:
            read = self._read(etype, plan)
        except _Inconsistent as first:
            log.warning("cloudstack_relist", extra={"source": self.source, "entity_type": etype.name,
                                                    "reason": str(first)})
            try:
                read = self._read(etype, plan)
            except _Inconsistent as second:
                raise ListingIncomplete(
                    f"{etype.name} (source {self.source}): the listing moved while paging, twice ({second}); "
                    "nothing is created, updated or deleted for this type this run") from second
        if etype.name in mapping.ZONE_FOLDED:
            # Templates and ISOs fold rows of several pages into one entity: mapped here, after a parse.
            entities = mapping.to_entities(etype.name, read.rows())
            yield from entities
            return len(entities)
        for page, keep in read.runs():
            yield RawPage(decode_page, page.content, PageContext(self.source, etype.name, page.label, plan.key,
                                                                 page.count, keep), split_page, parse_records)
        return len(read.order)

    def _read(self, etype: EntityType, plan: Plan) -> _Read:
        """Every page of every pass, buffered as bytes, and which row of which page each record is;
        or _Inconsistent. A relist never yields twice (nothing is yielded before the read is whole)."""
        read = _Read(plan.key)
        for number, params in enumerate(plan.passes()):
            self._read_pass(etype, plan, params, read, " of the projectid=-1 pass" if number else "")
        return read

    def _read_pass(self, etype: EntityType, plan: Plan, params: Mapping[str, Any], read: _Read, label: str) -> None:
        seen: dict[tuple[str, str], tuple[int, int]] = {}  # identity -> (page index in read, row index)
        counts: set[int] = set()
        previous: tuple[tuple[str, str], ...] | None = None
        zones = plan.key in ("template", "iso")
        page = 1
        while True:
            answer = self._client.list_page_raw(etype.name, plan.command, params, page, self.page_size, plan.key,
                                                zones)
            if answer.summary is not None:
                count, identities = answer.summary.count, answer.summary.identities
            else:  # an unusual shape: parsed whole by the client, checked as ever
                data = answer.data
                rows = _rows(data.get(plan.key), plan.key, etype, page)
                count = data.get("count", ABSENT)
                identities = tuple(plan.identity(row) for row in rows)
            if count is not ABSENT:
                counts.add(_count(count, etype, page))
            if not identities:
                break
            if identities == previous:
                raise _Inconsistent(f"page {page} repeated page {page - 1}")
            previous = identities
            index = len(read.pages)
            read.pages.append(_Page(answer.content, f"page {page}{label}", len(identities)))
            seen.update((identity, (index, row)) for row, identity in enumerate(identities))
            if (counts and len(seen) >= max(counts)) or len(identities) < self.page_size:
                break
            page += 1
        if len(counts) > 1:
            raise _Inconsistent(f"the reported count changed while paging ({min(counts)}..{max(counts)})")
        if counts and len(seen) != next(iter(counts)):
            raise _Inconsistent(f"{len(seen)} unique records but the API reported count {next(iter(counts))}")
        read.order.extend(seen.values())


@dataclass(frozen=True)
class _Page:
    """One buffered answer: its body, its name in errors and how many rows it holds."""

    content: bytes
    label: str
    count: int


@dataclass
class _Read:
    """One whole read of a listing: the pages as sent, and (page index, row index) of each record in
    listing order (the last copy of a record that paging showed twice, at its first position)."""

    key: str
    pages: builtins.list[_Page] = field(default_factory=list)
    order: builtins.list[tuple[int, int]] = field(default_factory=list)

    def runs(self) -> Iterator[tuple[_Page, tuple[int, ...] | None]]:
        """(page, rows to map in order, None for all of them) for consecutive records of one page."""
        start = 0
        while start < len(self.order):
            index = self.order[start][0]
            end = start
            while end < len(self.order) and self.order[end][0] == index:
                end += 1
            rows = tuple(row for _, row in self.order[start:end])
            page = self.pages[index]
            yield page, None if rows == tuple(range(page.count)) else rows
            start = end

    def rows(self) -> Iterator[Mapping[str, Any]]:
        """Every record in listing order, parsed here (only for types folded across pages)."""
        parsed: dict[int, builtins.list[Mapping[str, Any]]] = {}
        for index, row in self.order:
            if index not in parsed:
                body = loads(self.pages[index].content)
                parsed[index] = next(iter(body.values()))[self.key]
            yield parsed[index][row]


_JSON_KINDS = {dict: "an object", str: "a string", int: "a number", float: "a number", bool: "a boolean"}


def _rows(value: Any, key: str, etype: EntityType, page: int) -> builtins.list[Mapping[str, Any]]:
    """The records of one page (B15: a wrong shape is a page error, never an empty or odd list)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ListingIncomplete(f"{etype.name}: page {page}: expected a list at {key}, got "
                                f"{_JSON_KINDS.get(type(value), type(value).__name__)}")
    for row in value:
        if not isinstance(row, dict):
            raise ListingIncomplete(f"{etype.name}: page {page}: expected objects in the list at {key}, got "
                                    f"{_JSON_KINDS.get(type(row), 'null' if row is None else type(row).__name__)}")
    return value


def _count(value: Any, etype: EntityType, page: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise ListingIncomplete(f"{etype.name}: page {page} reported a count that is not a number")
    return int(value)


def _non_empty(source: str, options: Mapping[str, Any], name: str) -> str:
    value = require_option(source, options, name, str)
    if not value.strip():
        raise OptionError(source, name, "must not be empty")
    return str(value)


def _positive(source: str, options: Mapping[str, Any], name: str, kind: type | tuple[type, ...], default: Any) -> Any:
    value = optional_option(source, options, name, kind, default)
    if value <= 0:
        raise OptionError(source, name, "must be greater than 0")
    return value


def _verify(source: str, options: Mapping[str, Any]) -> bool | str:
    value = optional_option(source, options, "verify", (bool, str), True)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"  # e.g. verify: "${CS_VERIFY}" interpolated to a string
    if isinstance(value, str) and not os.path.exists(value):
        raise OptionError(source, "verify", "CA bundle file not found (use true, false or the path of a CA bundle)")
    return bool(value) if not isinstance(value, str) else value


def _expires(source: str, options: Mapping[str, Any]) -> int | None:
    value = optional_option(source, options, "expires", (bool, int), True)
    if value is True:
        return DEFAULT_EXPIRES
    if value is False:
        return None
    if value <= 0:
        raise OptionError(source, "expires", "must be true, false or a number of seconds greater than 0")
    return int(value)
