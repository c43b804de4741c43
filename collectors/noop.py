"""The ``noop`` collector (after Ralph's noop driver): no entity types, never fails.

Useful to exercise scheduling and event intake; it must never raise or yield.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collectors.base import Collector, EntityType, ListContext, Listing, reject_unknown_options


class NoopCollector(Collector):
    """Declares no entity types and yields nothing; accepts and drops events."""

    name = "noop"
    entity_types = ()

    def __init__(self, source: str, options: Mapping[str, Any]) -> None:
        super().__init__(source, options)
        reject_unknown_options(source, options, ())

    def list(self, etype: EntityType, context: ListContext) -> Listing:
        """Return an empty, complete listing (there are no types to ask for)."""
        return Listing(etype.name, iter(()))
