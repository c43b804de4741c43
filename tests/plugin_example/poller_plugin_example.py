"""Third-party collector plugins, used by the tests and shown whole in docs/plugins.md.

``ExampleCollector`` is the smallest plugin (fixed entities, registered as the entry
point ``example``). ``InventoryCollector`` is a complete one over a small JSON HTTP API
(``GET /things``, ``GET /things/<id>``, bearer token): option validation, an entity type
with volatile fields, a listing, ``fetch`` for push events, event translation, and one
error-translation boundary. Use it by class path:
``collector: "poller_plugin_example:InventoryCollector"``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import requests

from collectors.base import (
    Collector,
    Entity,
    EntityType,
    ListContext,
    Listing,
    ListingGenerator,
    optional_option,
    reject_unknown_options,
    require_option,
)
from collectors.errors import AuthenticationFailed, ListingIncomplete, OptionError, SourceUnreachable

THING = EntityType("example.thing", description="a thing from a third-party plugin")


class ExampleCollector(Collector):
    """Yields example.thing entities named in ``options.names`` (default: one, two)."""

    name = "example"
    entity_types = (THING,)

    def list(self, etype: EntityType, context: ListContext) -> Listing:
        """Every configured thing."""
        return Listing(etype.name, self._things())

    def _things(self) -> Iterator[Entity]:
        for name in self.options.get("names", ["one", "two"]):
            yield Entity(THING.name, key=name, name=name, attributes={"name": name})


# -- a complete plugin ----------------------------------------------------------------------------

ITEM = EntityType("inventory.item", volatile=("/last_seen",), sets=("/tags",),
                  fingerprint="inventory-api/1", description="an item of the inventory API (GET /things)")


class _NotFound(Exception):
    """Internal: the API answered 404 for one item."""


class InventoryCollector(Collector):
    """Items of an inventory API. Options: ``url`` (required), ``token`` (required), ``timeout`` (10 s)."""

    name = "inventory"
    entity_types = (ITEM,)

    def __init__(self, source: str, options: Mapping[str, Any]) -> None:
        super().__init__(source, options)
        # Validate everything here, name the field, do no network I/O.
        reject_unknown_options(source, options, ("url", "token", "timeout"))
        url = require_option(source, options, "url", str)
        if not url.startswith(("http://", "https://")):
            raise OptionError(source, "url", "must be an http:// or https:// URL")
        token = require_option(source, options, "token", str)
        self.timeout = optional_option(source, options, "timeout", (int, float), 10)
        if self.timeout <= 0:
            raise OptionError(source, "timeout", "must be greater than 0")
        self.url = url.rstrip("/")
        self._session = requests.Session()
        self._session.headers["Authorization"] = f"Bearer {token}"

    def list(self, etype: EntityType, context: ListContext) -> Listing:
        """All items; complete only when the whole answer was read."""
        return Listing(etype.name, self._items())

    def fetch(self, etype: EntityType, key: str) -> Entity | None:
        """One item again (for push events); None when the API says it is gone."""
        try:
            return item_entity(self._get(f"/things/{key}"))
        except _NotFound:
            return None

    def translate_event(self, event: Mapping[str, Any]) -> list[tuple[str, str]]:
        """``{"thing": "<id>"}`` names one item; anything else names nothing."""
        thing = event.get("thing")
        return [(ITEM.name, str(thing))] if isinstance(thing, str | int) and str(thing) else []

    def close(self) -> None:
        """Close the HTTP session."""
        self._session.close()

    def _items(self) -> ListingGenerator:
        records = self._get("/things")
        if not isinstance(records, list):
            raise ListingIncomplete(f"source {self.source}: /things did not answer a JSON list")
        for record in records:
            yield item_entity(record)
        return len(records)  # the poller checks it against what it saw

    def _get(self, path: str) -> Any:
        """The one error-translation boundary: only collectors.errors leave it (never upstream text)."""
        where = f"GET {path} (source {self.source})"
        try:
            answer = self._session.get(self.url + path, timeout=self.timeout)
        except requests.exceptions.Timeout as exc:
            raise SourceUnreachable(f"{where}: no answer within {self.timeout} s") from exc
        except requests.exceptions.RequestException as exc:
            raise SourceUnreachable(f"{where}: cannot reach the API ({type(exc).__name__})") from exc
        if answer.status_code in (401, 403):
            raise AuthenticationFailed(f"{where}: the API rejected the token (HTTP {answer.status_code})")
        if answer.status_code == 404 and path != "/things":
            raise _NotFound(path)
        if answer.status_code != 200:
            raise ListingIncomplete(f"{where}: HTTP {answer.status_code}")
        try:
            return answer.json()
        except ValueError as exc:
            raise ListingIncomplete(f"{where}: the answer is not JSON") from exc


def item_entity(raw: Mapping[str, Any]) -> Entity:
    """Pure mapping: an API record to an Entity (required fields by [], optional by .get())."""
    return Entity(ITEM.name, key=str(raw["id"]), name=raw.get("name"), state=raw.get("status"),
                  attributes={"size": raw.get("size"), "tags": list(raw.get("tags") or []),
                              "last_seen": raw.get("last_seen")})
