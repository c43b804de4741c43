"""The ``libvirt`` collector: hosts, domains, networks, storage, interfaces, filters and secrets of one libvirt URI.

Owns option validation and the wiring of connection reads to mapping functions. It
never imports libvirt itself (connection.py does, lazily, so options validate without
the extra installed), never opens a connection in its constructor, never logs or shows
a password, and never changes anything in libvirt.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from collectors.base import (
    Collector,
    Entity,
    EntityType,
    ListContext,
    Listing,
    optional_option,
    reject_unknown_options,
    require_option,
)
from collectors.durations import duration_option
from collectors.errors import ListingIncomplete, OptionError, SourceFailed, TypeUnavailable
from collectors.libvirt import mapping, types
from collectors.libvirt.connection import ConnectSettings, LibvirtSession, redact_uri

OPTIONS = ("uri", "auth", "timeout", "readonly", "live_xml")
AUTH_OPTIONS = ("username", "password")
DEFAULT_TIMEOUT = 30.0
MAX_TIMEOUT = 3600.0
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")

Reader = Callable[[LibvirtSession], Iterator[Entity]]


class LibvirtCollector(Collector):
    """Lists what one libvirt connection manages, one Listing per entity type.

    Each listing opens its own connection (read-only unless ``readonly: false``) and
    closes it when the listing ends, so a test-driver file or a changed host is re-read
    every time. Errors are one line naming the source and the URI without its password.
    """

    name = "libvirt"
    entity_types = types.ALL_TYPES

    def __init__(self, source: str, options: Mapping[str, Any]) -> None:
        super().__init__(source, options)
        reject_unknown_options(source, options, OPTIONS)
        uri = require_option(source, options, "uri", str)
        if not _URI.match(uri) or not uri.strip() == uri:
            raise OptionError(source, "uri", "must be a libvirt URI such as qemu:///system or test:///default")
        username, password = _auth_option(source, options)
        timeout = duration_option(source, options, "timeout", DEFAULT_TIMEOUT)
        if not 0 < timeout <= MAX_TIMEOUT:
            raise OptionError(source, "timeout", f"must be a number of seconds above 0 and at most {MAX_TIMEOUT:g}")
        self.readonly: bool = optional_option(source, options, "readonly", bool, True)
        self.live_xml: bool = optional_option(source, options, "live_xml", bool, False)
        self.options = _shown_options(self.options)
        self._settings = ConnectSettings(source, uri, username, password, self.readonly, float(timeout))
        self._refused_flags: set[str] = set()
        self._readers: dict[str, Reader] = {
            types.HOST.name: self._hosts,
            types.DOMAIN.name: self._domains,
            types.NETWORK.name: self._networks,
            types.STORAGE_POOL.name: self._pools,
            types.STORAGE_VOLUME.name: self._volumes,
            types.INTERFACE.name: self._interfaces,
            types.NWFILTER.name: self._nwfilters,
            types.SECRET.name: self._secrets,
        }

    @property
    def uri(self) -> str:
        """The configured URI with any password removed: safe to show."""
        return redact_uri(self._settings.uri)

    def connect(self) -> None:
        """Open (and close) one connection before any type is listed: SourceFailed when it cannot be opened."""
        try:
            with self._session() as session:
                session.hostname()
        except ListingIncomplete as exc:  # libvirt-python missing, or the node cannot even name itself
            raise SourceFailed(str(exc)) from exc

    def list(self, etype: EntityType, context: ListContext) -> Listing:
        """Return the Listing of one type; nothing is read until it is iterated."""
        return Listing(etype.name, self._listing(etype))

    def _listing(self, etype: EntityType) -> Iterator[Entity]:
        reader = self._readers.get(etype.name)
        if reader is None:
            raise TypeUnavailable(f"source {self.source}: the libvirt collector has no type {etype.name}")
        with self._session() as session:
            yield from reader(session)

    def _session(self) -> LibvirtSession:
        return LibvirtSession(self._settings, self._refused_flags)

    def fetch(self, etype: EntityType, key: str) -> Entity | None:
        """Re-read one domain by UUID (None when libvirt has no such domain) or the host; other types cannot."""
        if etype.name == types.DOMAIN.name:
            with self._session() as session:
                record = session.domain_by_uuid(key, self.live_xml)
                return None if record is None else mapping.domain_entity(record, session.hostname())
        if etype.name == types.HOST.name:
            with self._session() as session:
                host = mapping.host_entity(session.host())
                return host if host.key == key else None
        return super().fetch(etype, key)

    def warnings(self) -> builtins.list[str]:
        """A warning when the connection is opened read-write although the collector only reads."""
        if self.readonly:
            return []
        return [f"source {self.source}: readonly is false: libvirt at {self.uri} is opened read-write"]

    # -- one reader per type: connection records -> pure mapping ---------------------

    def _hosts(self, session: LibvirtSession) -> Iterator[Entity]:
        yield mapping.host_entity(session.host())

    def _domains(self, session: LibvirtSession) -> Iterator[Entity]:
        host = session.hostname()
        for record in session.domains(self.live_xml):
            yield mapping.domain_entity(record, host)

    def _networks(self, session: LibvirtSession) -> Iterator[Entity]:
        host = session.hostname()
        for record in session.networks(self.live_xml):
            yield mapping.network_entity(record, host)

    def _pools(self, session: LibvirtSession) -> Iterator[Entity]:
        host = session.hostname()
        for record in session.pools(self.live_xml):
            yield mapping.pool_entity(record, host)

    def _volumes(self, session: LibvirtSession) -> Iterator[Entity]:
        for record in session.volumes():
            yield mapping.volume_entity(record)

    def _interfaces(self, session: LibvirtSession) -> Iterator[Entity]:
        host = session.hostname()
        for record in session.interfaces(self.live_xml):
            yield mapping.interface_entity(record, host)

    def _nwfilters(self, session: LibvirtSession) -> Iterator[Entity]:
        host = session.hostname()
        for record in session.nwfilters():
            yield mapping.nwfilter_entity(record, host)

    def _secrets(self, session: LibvirtSession) -> Iterator[Entity]:
        host = session.hostname()
        for record in session.secrets():
            yield mapping.secret_entity(record, host)


def _shown_options(options: dict[str, Any]) -> dict[str, Any]:
    """The options as they may be shown: the URI without its password, the credentials masked."""
    shown = {**options, "uri": redact_uri(options["uri"])}
    if "auth" in shown:
        shown["auth"] = "***"
    return shown


def _auth_option(source: str, options: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """Validate ``auth`` ({username, password}, both optional strings); never echo a value."""
    auth = optional_option(source, options, "auth", dict, {})
    for name in auth:
        if name not in AUTH_OPTIONS:
            raise OptionError(source, f"auth.{name}", f"unknown option (known: {', '.join(AUTH_OPTIONS)})")
    try:
        username = optional_option(source, auth, "username", str, None)
        password = optional_option(source, auth, "password", str, None)
    except OptionError as exc:
        raise OptionError(source, f"auth.{exc.field}", exc.problem) from None
    return username, password
