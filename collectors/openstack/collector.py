"""The ``openstack`` collector: snapshots of an OpenStack cloud through openstacksdk.

Lists the 20 declared types (get -> RawPage of the body -> pure decode and mapping -> Entity), answers ``compute.server``
with a ``changes-since`` delta between full snapshots, re-reads single entities and
maps oslo.messaging notifications to the entities they name. Only collector errors
leave it; never imports ``poller/`` or ``baseline/``.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from collectors.base import Collector, Entity, EntityType, ListContext, Listing, ListingGenerator, RawPage
from collectors.errors import ListingIncomplete, TypeUnavailable
from collectors.openstack import types as t
from collectors.openstack.client import Forbidden, OpenStackClient, Page, Query
from collectors.openstack.events import event_targets
from collectors.openstack.mapping import MAPPERS, server_entity
from collectors.openstack.options import OpenStackOptions, parse_options
from collectors.openstack.pages import PageContext, decode_page, parse_records, split_page

_ALL = {"all_tenants": "True"}
QUERIES: dict[str, Query] = {
    "identity.domain": Query("identity", "/domains", "domains", paged=False),
    "identity.project": Query("identity", "/projects", "projects", paged=False),
    "identity.user": Query("identity", "/users", "users", paged=False),
    "compute.server": Query("compute", "/servers/detail", "servers", _ALL, t.COMPUTE_SERVER_MV),
    "compute.flavor": Query("compute", "/flavors/detail", "flavors", {"is_public": "None"}, t.COMPUTE_FLAVOR_MV),
    "compute.hypervisor": Query("compute", "/os-hypervisors/detail", "hypervisors", {}, t.COMPUTE_HYPERVISOR_MV),
    "compute.service": Query("compute", "/os-services", "services", {}, t.COMPUTE_SERVICE_MV, paged=False),
    "compute.aggregate": Query("compute", "/os-aggregates", "aggregates", {}, t.COMPUTE_AGGREGATE_MV, paged=False),
    "compute.keypair": Query("compute", "/os-keypairs", "keypairs", {}, t.COMPUTE_KEYPAIR_MV, id_field="name"),
    "image.image": Query("image", "/images", "images", {"visibility": "all"}),
    "network.network": Query("network", "/networks", "networks"),
    "network.subnet": Query("network", "/subnets", "subnets"),
    "network.port": Query("network", "/ports", "ports"),
    "network.router": Query("network", "/routers", "routers"),
    "network.floating_ip": Query("network", "/floatingips", "floatingips"),
    "network.security_group": Query("network", "/security-groups", "security_groups"),
    "block_storage.volume": Query("block-storage", "/volumes/detail", "volumes", _ALL, t.VOLUME_MV),
    "block_storage.snapshot": Query("block-storage", "/snapshots/detail", "snapshots", _ALL, t.VOLUME_MV),
    "placement.resource_provider": Query("placement", "/resource_providers", "resource_providers", {},
                                         t.PLACEMENT_MV, paged=False, id_field="uuid"),
    "orchestration.stack": Query("orchestration", "/stacks", "stacks", {"global_tenant": "True"}),
}
# type -> (path template of one resource, JSON key of its body or None when the body is the resource)
SINGLE: dict[str, tuple[str, str | None]] = {
    "identity.domain": ("/domains/{}", "domain"), "identity.project": ("/projects/{}", "project"),
    "identity.user": ("/users/{}", "user"), "compute.server": ("/servers/{}", "server"),
    "compute.flavor": ("/flavors/{}", "flavor"), "compute.hypervisor": ("/os-hypervisors/{}", "hypervisor"),
    "compute.keypair": ("/os-keypairs/{}", "keypair"), "image.image": ("/images/{}", None),
    "network.network": ("/networks/{}", "network"), "network.subnet": ("/subnets/{}", "subnet"),
    "network.port": ("/ports/{}", "port"), "network.router": ("/routers/{}", "router"),
    "network.floating_ip": ("/floatingips/{}", "floatingip"),
    "network.security_group": ("/security-groups/{}", "security_group"),
    "block_storage.volume": ("/volumes/{}", "volume"), "block_storage.snapshot": ("/snapshots/{}", "snapshot"),
    "placement.resource_provider": ("/resource_providers/{}", None), "orchestration.stack": ("/stacks/{}", "stack"),
}
_HOSTS = Query("compute", "/os-hypervisors", "hypervisors", {}, t.COMPUTE_HYPERVISOR_MV)


class OpenStackCollector(Collector):
    """Snapshots one OpenStack cloud (one region, one set of credentials) through openstacksdk."""

    name = "openstack"
    entity_types = t.ALL

    def __init__(self, source: str, options: Mapping[str, Any]) -> None:
        super().__init__(source, options)
        self.config: OpenStackOptions = parse_options(source, options)
        self.client = OpenStackClient(source, self.config)

    def warnings(self) -> builtins.list[str]:
        notes = list(self.config.notes)
        if self.config.verify is False or self.client.region.config.get("verify") is False:
            notes.append(f"source {self.source!r}: TLS certificate verification is off")
        return notes

    def close(self) -> None:
        self.client.close()

    def connect(self) -> None:
        """Authenticate once before any type is listed (a wrong password: one failed login per run)."""
        self.client.authenticate()

    # -- listing ----------------------------------------------------------------------------------
    def list(self, etype: EntityType, context: ListContext) -> Listing:
        """The Listing of one type: full, or for compute.server a changes-since delta when one is due."""
        if etype.name not in QUERIES:
            raise KeyError(etype.name)
        if etype.name == "compute.server":
            since = self.delta_since(context)
            if since is not None:
                return Listing(etype.name, self._servers(since), delta=True)
            return Listing(etype.name, self._servers(None))
        return Listing(etype.name, self._full(etype.name))

    def delta_since(self, context: ListContext) -> datetime | None:
        """The changes-since time of a delta listing, or None when a full snapshot is due."""
        every = self.config.full_every
        if context.last_listed_at is None or context.last_full_at is None:
            return None
        if isinstance(every, int):
            if context.listings_since_full + 1 >= every:
                return None
        elif context.now - context.last_full_at >= every:
            return None
        return context.last_listed_at - self.config.changes_since_margin

    def _full(self, name: str) -> ListingGenerator:
        """A full listing: one RawPage per page (parsed and mapped by pages.decode_page, possibly in a
        worker); placement providers, which need three more GETs each, are mapped here."""
        query = QUERIES[name]
        if name == "placement.resource_provider":
            mapper = MAPPERS[name]
            for raw in self._with_provider_details(self.client.records(query, name, self.config.page_size)):
                yield mapper(raw)
            return None
        for page in self.client.pages(query, name, self.config.page_size):
            yield _raw_page(page, PageContext(
                self.source, name, page.number, query.key, query.id_field, len(page.summary.keys), page.keep))
        return None

    def _with_provider_details(self, providers: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """Each provider with its inventories, traits and aggregates: 3 GETs per provider.

        Placement has no call that returns them for many providers at once (GET
        /resource_providers embeds none of them; /allocation_candidates only summarises
        capacity for providers matching a request). A provider deleted between the list
        and its details (404) is left out, as it would be from the next list.
        """
        query = QUERIES["placement.resource_provider"]
        proxy = self.client.proxy("placement", "listing placement.resource_provider")
        for raw in providers:
            details = self._provider_details(proxy, query, raw["uuid"])
            if details is not None:
                yield {**raw, **details}

    def _provider_details(self, proxy: Any, query: Query, uuid: str) -> dict[str, Any] | None:
        details: dict[str, Any] = {}
        for part in ("inventories", "traits", "aggregates"):
            what = f"reading the {part} of resource provider {uuid}"
            status, body = self.client.get(proxy, f"/resource_providers/{uuid}/{part}", {}, query.microversion, what)
            if status == 404:
                return None
            if status >= 400 or not isinstance(body, dict) or part not in body:
                raise ListingIncomplete(f"source {self.source!r}: HTTP {status} while {what}")
            details[part] = body[part]
        return details

    def _servers(self, since: datetime | None) -> ListingGenerator:
        """Servers of every project; with ``since``, only those changed since then, deleted ones as Gone."""
        query = QUERIES["compute.server"]
        if since is not None:
            params = dict(query.params)
            params["changes-since"] = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            query = Query(query.service, query.path, query.key, params, query.microversion)
        hosts = self._hypervisor_hosts()
        for page in self.client.pages(query, "compute.server", self.config.page_size, servers=True):
            summary = page.summary
            taken = page.keep if page.keep is not None else range(len(summary.keys))
            if since is not None:
                taken = [i for i in taken if summary.statuses[i] != "DELETED"]
            page_hosts = {summary.hosts[i] for i in taken if _usable_host(summary.hosts[i])}
            if hosts is not None and any(host not in hosts for host in page_hosts):
                hosts = self._hypervisor_hosts()  # a hypervisor that appeared during the listing
            known = None if hosts is None else {h: hosts[h] for h in page_hosts if h in hosts}
            yield _raw_page(page, PageContext(
                self.source, "compute.server", page.number, query.key, query.id_field, len(summary.keys), page.keep,
                delta=since is not None, hosts=known))
        return None

    def _hypervisor_hosts(self) -> dict[str, str] | None:
        """Hypervisor hostname -> id, for the servers' parents; None when the credentials may not see them.

        A 403 (no admin role) is permanent, so servers consistently have no parent;
        any other failure fails the server listing rather than dropping every parent
        for one run (which would report every server as changed twice).
        """
        try:
            return {str(h["hypervisor_hostname"]): str(h["id"])
                    for h in self.client.records(_HOSTS, "compute.hypervisor", self.config.page_size)}
        except (TypeUnavailable, Forbidden):
            return None

    # -- single entities and events -----------------------------------------------------------------
    def fetch(self, etype: EntityType, key: str) -> Entity | None:
        """Re-read one entity; None when the API answers 404."""
        if etype.name not in SINGLE:
            raise TypeUnavailable(f"collector openstack cannot fetch single {etype.name} entities")
        query = QUERIES[etype.name]
        template, body_key = SINGLE[etype.name]
        what = f"fetching {etype.name} {key}"
        proxy = self.client.proxy(query.service, what)
        params = {"all_tenants": "True"} if etype.name == "compute.server" else {}
        status, body = self.client.get(proxy, template.format(key), params, query.microversion, what)
        if status == 404:
            return None
        if status >= 400 or not isinstance(body, dict):
            raise ListingIncomplete(f"source {self.source!r}: HTTP {status} while {what}")
        raw = body.get(body_key) if body_key else body
        if not isinstance(raw, dict):
            raise ListingIncomplete(f"source {self.source!r}: malformed answer while {what}")
        if etype.name == "compute.server":
            return server_entity(raw, self._hypervisor_hosts())
        if etype.name == "placement.resource_provider":
            details = self._provider_details(proxy, query, key)
            if details is None:
                return None
            raw = {**raw, **details}
        return MAPPERS[etype.name](raw)

    def translate_event(self, event: Mapping[str, Any]) -> builtins.list[tuple[str, str]]:
        """The (type, key) pairs an oslo.messaging notification (v1 or v2 envelope) is about."""
        return event_targets(event)


def _usable_host(host: Any) -> bool:
    """Whether a server's hypervisor hostname can name a parent (a non-empty string)."""
    return isinstance(host, str) and bool(host)


def _raw_page(page: Page, context: PageContext) -> RawPage:
    """A page for the hash pool: split into records (so a record unchanged byte for byte is not parsed
    again) when the pager read it fast; decoded whole when its shape made the pager parse it."""
    if page.body is None:
        return RawPage(decode_page, page.data, context, split_page, parse_records)
    return RawPage(decode_page, page.data, context)
