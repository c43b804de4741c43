"""The baseline package's errors.

    BaselineError               root: the baseline cannot do what was asked
    ├── StoreUnavailable        the database cannot be opened, read or written
    │   ├── StoreBusy           a lock wait or statement ran past baseline.lock_timeout / statement_timeout
    │   └── SchemaBehind        a read-only command found a schema older than this cloud-poller's
    ├── StoreMisconfigured      baseline.url does not parse or its driver is not installed (exit 2)
    ├── StoreCorrupt            the database holds something we cannot read (never recreated silently)
    └── CanonicalError          a value cannot be serialized by the canonical rules
"""

from __future__ import annotations


class BaselineError(Exception):
    """Root of the baseline's errors; messages never hold credentials."""


class StoreUnavailable(BaselineError):
    """The baseline database could not be reached, opened, read or written."""


class StoreMisconfigured(BaselineError):
    """``baseline.url`` is not a database URL, or its database driver is not installed."""


class StoreCorrupt(BaselineError):
    """The baseline database exists but cannot be read as a baseline."""


class CanonicalError(BaselineError):
    """A value is outside what the canonical serialization accepts."""


class StoreBusy(StoreUnavailable):
    """A lock wait (``baseline.lock_timeout``) or a statement (``statement_timeout``) timed out."""


class SchemaBehind(StoreUnavailable):
    """A read-only opening found the schema older than this release; only writers migrate."""
