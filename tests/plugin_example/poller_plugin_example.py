"""A third-party collector plugin: two fixed entities of one type, from its own package."""

from __future__ import annotations

from collections.abc import Iterator

from collectors.base import Collector, Entity, EntityType, ListContext, Listing

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
