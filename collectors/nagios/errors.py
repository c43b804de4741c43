"""The Nagios collector's own errors, placed in the collectors' tree.

    CollectorError                      (collectors.errors)
    ├── ListingIncomplete
    │   ├── AuthenticationFailed        401/403 from the web server: source-wide
    │   ├── SourceUnreachable           connection, TLS, timeout: source-wide
    │   └── NagiosAnswerInvalid         HTML instead of JSON, a CGI error (type_code != 0),
    │                                   a listing without its data: source-wide when the probe sees it
    └── NagiosObjectNotFound            a single-object query named something Nagios does not know;
                                        ``fetch`` turns it into None and it never leaves the collector

Messages are built from our own fields (source, CGI, query, HTTP status, Nagios's
fixed ``type_code``/``type_text``), never from upstream text.
"""

from __future__ import annotations

from collectors.errors import CollectorError, ListingIncomplete


class NagiosAnswerInvalid(ListingIncomplete):
    """A CGI answered, but not with a successful Nagios JSON result."""


class NagiosObjectNotFound(CollectorError):
    """A ``query=host``/``query=service`` named an object Nagios does not have (it was removed)."""
