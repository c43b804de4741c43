"""The ``nagios`` collector: Nagios Core hosts and services through ``statusjson.cgi`` and ``objectjson.cgi``.

Owns option validation, the source-wide probe (``query=programstatus``, so wrong
credentials or a dead web server fail the run once), the listing of each type (status
joined with object configuration, one relist when the two disagree), ``fetch`` of one
host or service, and event translation. Every HTTP call goes through ``client.py``; it
never imports ``poller/`` or ``baseline/`` and lets only ``collectors.errors`` out.
"""

from __future__ import annotations

import builtins
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

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
from collectors.durations import duration_option
from collectors.errors import ListingIncomplete, OptionError
from collectors.nagios import mapping
from collectors.nagios import types as t
from collectors.nagios.client import NagiosClient
from collectors.nagios.errors import NagiosObjectNotFound
from collectors.nagios.events import translate

log = logging.getLogger(__name__)

KNOWN_OPTIONS = ("url", "username", "password", "verify", "timeout")
STATUS_CGI = "statusjson.cgi"
OBJECT_CGI = "objectjson.cgi"
_DETAILS = {"details": "true"}


class NagiosCollector(Collector):
    """Snapshots the hosts and services a Nagios Core 4 shows through its JSON CGIs.

    Options: ``url`` (the CGI directory, e.g. ``https://nagios.example.org/cgi-bin/nagios4``),
    ``username`` and ``password`` (HTTP basic auth; the user must be authorized for all
    hosts and services in ``cgi.cfg``), ``verify`` (true, false or a CA bundle path),
    ``timeout`` (30 s).
    """

    name = "nagios"
    entity_types = t.ALL_TYPES

    def __init__(self, source: str, options: Mapping[str, Any]) -> None:
        super().__init__(source, options)
        reject_unknown_options(source, options, KNOWN_OPTIONS)
        url = require_option(source, options, "url", str).strip()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise OptionError(source, "url", "must be an http:// or https:// URL of the CGI directory "
                                             "(…/cgi-bin/nagios4)")
        if parts.username or parts.password:
            raise OptionError(source, "url", "must not hold credentials; use options.username and options.password")
        if url.rstrip("/").endswith((STATUS_CGI, OBJECT_CGI)):
            raise OptionError(source, "url", "must be the CGI directory, without statusjson.cgi/objectjson.cgi")
        username = optional_option(source, options, "username", str, None)
        password = optional_option(source, options, "password", str, None)
        if (username is None) != (password is None):
            raise OptionError(source, "password" if password is None else "username",
                              "is required when the other of username/password is set")
        timeout = duration_option(source, options, "timeout", 30.0)
        if timeout <= 0:
            raise OptionError(source, "timeout", "must be greater than 0")
        self.verify = _verify(source, options)
        self._client = NagiosClient(source, url, username, password, verify=self.verify, timeout=float(timeout))

    # -- contract ------------------------------------------------------------------------------

    def discover_types(self) -> Sequence[EntityType]:
        """Both types, after one ``programstatus`` probe: an unusable source fails here, once."""
        self._client.query(STATUS_CGI, {"query": "programstatus"}, "programstatus")
        return tuple(self.entity_types)

    def list(self, etype: EntityType, context: ListContext) -> Listing:
        """A full listing of hosts or services: status joined with object configuration."""
        if etype.name == t.HOST.name:
            return Listing(etype.name, self._listing(etype, "hostlist", mapping.hosts))
        return Listing(etype.name, self._listing(etype, "servicelist", mapping.services))

    def fetch(self, etype: EntityType, key: str) -> Entity | None:
        """Re-read one host (key: name) or service (key: host/description); None when Nagios no longer has it."""
        try:
            if etype.name == t.HOST.name:
                params = {"query": "host", "hostname": key}
                return mapping.host_entity(self._client.query(STATUS_CGI, params, "host"),
                                           self._client.query(OBJECT_CGI, params, "host"))
            try:
                host, description = mapping.split_service_key(key)
            except ValueError:
                return None
            params = {"query": "service", "hostname": host, "servicedescription": description}
            return mapping.service_entity(self._client.query(STATUS_CGI, params, "service"),
                                          self._client.query(OBJECT_CGI, params, "service"))
        except NagiosObjectNotFound:
            return None
        except mapping.MappingError as exc:
            raise ListingIncomplete(f"{etype.name} {key} (source {self.source}): {exc}") from exc

    def translate_event(self, event: Mapping[str, Any]) -> builtins.list[tuple[str, str]]:
        """(type, key) pairs named by an event from etc/nagios-notify-poller.sh (or any Nagios macro dump)."""
        return translate(event)

    def warnings(self) -> builtins.list[str]:
        """A warning on every run while TLS certificate verification is off."""
        if self.verify is False:
            return [f"source {self.source}: TLS certificate verification is OFF (verify: false); "
                    "the Nagios password can be intercepted"]
        return []

    def close(self) -> None:
        """Close the HTTP session."""
        self._client.close()

    # -- listing --------------------------------------------------------------------------------

    def _listing(self, etype: EntityType, query: str,
                 join: Callable[[Any, Any], tuple[builtins.list[Entity], builtins.list[str]]]) -> ListingGenerator:
        params = {"query": query, **_DETAILS}
        for attempt in (1, 2):
            status = self._client.query(STATUS_CGI, params, query)
            objects = self._client.query(OBJECT_CGI, params, query)
            try:
                entities, odd = join(status, objects)
            except mapping.MappingError as exc:
                raise ListingIncomplete(f"{etype.name} (source {self.source}): {exc}") from exc
            if not odd:
                yield from entities
                return len(entities)
            log.warning("nagios_relist source=%s type=%s attempt=%s mismatched=%s",
                        self.source, etype.name, attempt, len(odd))
        raise ListingIncomplete(
            f"{etype.name} (source {self.source}): status and object configuration disagreed twice "
            f"({len(odd)} names in only one; Nagios reloading?); nothing is created, updated or deleted "
            "for this type this run")


def _verify(source: str, options: Mapping[str, Any]) -> bool | str:
    value = optional_option(source, options, "verify", (bool, str), True)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"  # e.g. verify: "${NAGIOS_VERIFY}" interpolated to a string
    if isinstance(value, str) and not os.path.exists(value):
        raise OptionError(source, "verify", "CA bundle file not found (use true, false or the path of a CA bundle)")
    return value
