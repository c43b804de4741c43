"""The errors a collector may raise; nothing else ever leaves a collector.

Every collector translates its client library's exceptions into these at one
boundary (``raise ... from exc``), and builds messages from its own fields only,
never from upstream exception text (which may hold URLs with keys or signatures).

    CollectorError                  root: anything a collector reports
    ├── OptionError                 bad source options (names sources.<name>.options.<field>)
    ├── PluginError                 a plugin that cannot be found or loaded
    ├── SourceFailed                the whole source failed: the run ends at once, as ``failed``,
    │   │                           with one error line; types not yet listed were not tried
    │   ├── AuthenticationFailed    credentials rejected (no secret in the message); never retried
    │   └── SourceUnreachable       network, TLS or timeout trouble reaching the API (after retries)
    ├── ListingIncomplete           one type's listing was cut short: that type deletes nothing,
    │                               the other types go on
    └── TypeUnavailable             the cloud does not offer this type: skipped, not a failure

A collector finds a source-wide failure out once per run, in ``Collector.connect``
(authenticate, or probe the connection) before any type is listed; one raised later,
while a type is listed, ends the run just the same.
"""

from __future__ import annotations


class CollectorError(Exception):
    """Root of every error a collector raises; its message is safe to show."""


class OptionError(CollectorError):
    """A source's options are invalid; the message names the offending field."""

    def __init__(self, source: str, field: str, problem: str) -> None:
        self.source = source
        self.field = field
        self.problem = problem
        super().__init__(f"sources.{source}.options.{field}: {problem}")


class PluginError(CollectorError):
    """A collector plugin is unknown, broken or not a Collector."""


class ListingIncomplete(CollectorError):
    """The listing of one type stopped before it was known to be whole."""


class SourceFailed(CollectorError):
    """The whole source cannot be listed this run (credentials, reachability); the message names the source."""


class AuthenticationFailed(SourceFailed):
    """The cloud rejected the source's credentials."""


class SourceUnreachable(SourceFailed):
    """The cloud's API could not be reached (connection, TLS, timeout)."""


class TypeUnavailable(CollectorError):
    """The cloud does not offer this entity type (service or extension absent)."""
