"""The one boundary between the libvirt collector and libvirt-python.

Owns importing ``libvirt`` lazily, opening connections (read-only by default, with
credentials handed over only through openAuth's callback), reading libvirt objects into
plain records (``mapping.*Record``) and translating every ``libvirt.libvirtError`` into a
``collectors.errors`` type. It must never let a libvirt exception, a password or an
unscrubbed libvirt message escape, never ask for a secret's value or for secure XML,
and never change anything in libvirt.
"""

from __future__ import annotations

import importlib
import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TypeVar
from urllib.parse import unquote

import structlog

from collectors.errors import (
    AuthenticationFailed,
    CollectorError,
    ListingIncomplete,
    SourceUnreachable,
    TypeUnavailable,
)
from collectors.libvirt.mapping import (
    DomainRecord,
    HostRecord,
    InterfaceRecord,
    NetworkRecord,
    NWFilterRecord,
    PoolRecord,
    SecretRecord,
    VolumeRecord,
)

INSTALL_HINT = "pip install 'cloud-poller[libvirt]'"

log = structlog.get_logger(__name__)
T = TypeVar("T")

_registered_handlers: set[int] = set()
_registration_lock = threading.Lock()


@dataclass(frozen=True)
class ConnectSettings:
    """How to reach one libvirt: URI, optional credentials, read-only flag and connect timeout (seconds)."""

    source: str
    uri: str
    username: str | None = None
    password: str | None = None
    readonly: bool = True
    timeout: float = 30.0

    def __repr__(self) -> str:  # never show the password, even in a debugger or a traceback
        return f"ConnectSettings(source={self.source!r}, uri={redact_uri(self.uri)!r}, readonly={self.readonly})"


def load_libvirt(source: str) -> ModuleType:
    """Import libvirt-python (and xmltodict) or raise one ListingIncomplete line naming the extra to install.

    Also registers, once, a libvirt error handler so libvirt prints nothing to stderr itself.
    """
    try:
        libvirt = importlib.import_module("libvirt")
        importlib.import_module("xmltodict")
    except ImportError as exc:
        raise ListingIncomplete(f"source {source}: the libvirt collector needs libvirt-python and xmltodict: {INSTALL_HINT}") from exc
    _register_error_handler(libvirt)
    return libvirt


def _register_error_handler(libvirt: ModuleType) -> None:
    # By default libvirt prints every error to stderr, even the ones we handle (see
    # virSetErrorFunc / libvirt.registerErrorHandler); we report our own one line instead.
    with _registration_lock:
        if id(libvirt) in _registered_handlers:
            return
        libvirt.registerErrorHandler(_ignore_libvirt_error, None)
        _registered_handlers.add(id(libvirt))


def _ignore_libvirt_error(_context: object, _error: object) -> None:
    """libvirt's error callback: the error is still raised as libvirtError and translated by us."""


_USERINFO_PASSWORD = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/@:?#\s]*):[^/@?#\s]*@")
_SECRET_QUERY = re.compile(r"(?P<name>[?&][^=&#\s]*(?:pass|secret|token)[^=&#\s]*=)[^&#\s]*", re.IGNORECASE)


_TEST_NODE_URI = re.compile(r"^test://(?P<path>/[^?#]*)")


def redact_uri(uri: str) -> str:
    """Return ``uri`` with any password in its user info (and any password-like query value) removed."""
    uri = _USERINFO_PASSWORD.sub(r"\g<scheme>\g<user>@", uri)
    return _SECRET_QUERY.sub(r"\g<name>***", uri)


def one_line(text: str) -> str:
    """Flatten a (possibly multi-line) libvirt message into one line of single spaces."""
    return " ".join(text.split())


class LibvirtSession:
    """One open libvirt connection and the reads the collector needs, each translated to our errors.

    Use it as a context manager; it closes the connection on exit. Every public method
    either returns plain records or raises a ``collectors.errors`` type.
    """

    def __init__(self, settings: ConnectSettings, refused_flags: set[str] | None = None) -> None:
        """Open the connection now. ``refused_flags`` (kinds of object whose XML flag the driver
        refused) may be shared between sessions so the fallback is logged once per collector."""
        self.settings = settings
        self.libvirt = load_libvirt(settings.source)
        self.safe_uri = redact_uri(settings.uri)
        self._refused_flags: set[str] = set() if refused_flags is None else refused_flags
        self._conn: Any = self._open()

    def __enter__(self) -> LibvirtSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection; errors while closing are ignored (nothing is left to report)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(self.libvirt.libvirtError):
                conn.close()

    # -- connecting -------------------------------------------------------------------

    def _open(self) -> Any:
        """Open the connection within ``timeout`` seconds (libvirt has no connect timeout of its own)."""
        self._check_test_node_file()
        flags = self.libvirt.VIR_CONNECT_RO if self.settings.readonly else 0
        auth = [self._credential_types(), self._credentials_callback, None]
        pending = _PendingOpen(lambda: self.libvirt.openAuth(self.settings.uri, auth, flags), self.libvirt)
        outcome = pending.wait(self.settings.timeout)
        if outcome is None:
            raise SourceUnreachable(
                f"source {self.settings.source}: libvirt at {self.safe_uri}: cannot connect: no answer within {self.settings.timeout:g} s"
            )
        if isinstance(outcome, self.libvirt.libvirtError):
            raise self.translate(outcome, "connect", connecting=True)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def _check_test_node_file(self) -> None:
        """For ``test:///<path>`` check the node file exists first: libxml2 would print its own warning to stderr."""
        match = _TEST_NODE_URI.match(self.settings.uri)
        path = unquote(match["path"]) if match else ""  # a URI: "%20" is a space in the file name
        if match and path != "/default" and not os.path.isfile(path):
            raise SourceUnreachable(
                f"source {self.settings.source}: libvirt at {self.safe_uri}: cannot connect: no test-driver node file at {path}"
            )

    def _credential_types(self) -> list[int]:
        lv = self.libvirt
        return [lv.VIR_CRED_AUTHNAME, lv.VIR_CRED_USERNAME, lv.VIR_CRED_PASSPHRASE, lv.VIR_CRED_REALM]

    def _credentials_callback(self, credentials: list[list[Any]], _data: object) -> int:
        """openAuth's callback: answer what libvirt asks for from our options; -1 (refuse) for anything else."""
        lv = self.libvirt
        for credential in credentials:
            kind = credential[0]
            if kind in (lv.VIR_CRED_AUTHNAME, lv.VIR_CRED_USERNAME) and self.settings.username is not None:
                credential[4] = self.settings.username
            elif kind == lv.VIR_CRED_PASSPHRASE and self.settings.password is not None:
                credential[4] = self.settings.password
            elif kind == lv.VIR_CRED_REALM:
                credential[4] = credential[3] or ""
            else:
                return -1
        return 0

    # -- translation ------------------------------------------------------------------

    def scrub(self, text: str) -> str:
        """One line of libvirt text with our URI redacted and any configured password masked."""
        text = one_line(text).replace(self.settings.uri, self.safe_uri)
        if self.settings.password:
            text = text.replace(self.settings.password, "***")
        return redact_uri(text)

    def translate(self, exc: Any, action: str, *, connecting: bool = False, listing: bool = False) -> CollectorError:
        """Turn one libvirtError into our error, chained to it (``__cause__``) unless its text holds a secret."""
        error = self._classify(exc, action, connecting=connecting, listing=listing)
        error.__cause__ = exc if self._safe_to_chain(exc) else None
        error.__suppress_context__ = True
        return error

    def _safe_to_chain(self, exc: Any) -> bool:
        """True when libvirt's own text shows neither our URI's password nor the configured password."""
        text = f"{exc} {exc.get_error_message() or ''}"
        shows_uri_password = self.safe_uri != self.settings.uri and self.settings.uri in text
        shows_password = bool(self.settings.password) and str(self.settings.password) in text
        return redact_uri(text) == text and not shows_uri_password and not shows_password

    def _classify(self, exc: Any, action: str, *, connecting: bool, listing: bool) -> CollectorError:
        lv = self.libvirt
        code = exc.get_error_code()
        detail = self.scrub(exc.get_error_message() or "no detail from libvirt")
        where = f"source {self.settings.source}: libvirt at {self.safe_uri}"
        if code in (lv.VIR_ERR_AUTH_FAILED, lv.VIR_ERR_AUTH_CANCELLED, lv.VIR_ERR_AUTH_UNAVAILABLE):
            detail = detail.removeprefix("authentication failed: ")
            return AuthenticationFailed(f"{where}: authentication failed: {detail}")
        if listing and code == lv.VIR_ERR_NO_SUPPORT:
            return TypeUnavailable(f"{where}: {action} not supported by this driver")
        if connecting:
            return SourceUnreachable(f"{where}: cannot connect: {detail}")
        if code in (lv.VIR_ERR_SYSTEM_ERROR, lv.VIR_ERR_RPC, lv.VIR_ERR_OPERATION_TIMEOUT, lv.VIR_ERR_NO_CONNECT):
            return SourceUnreachable(f"{where}: connection lost during {action}: {detail}")
        return ListingIncomplete(f"{where}: {action} failed: {detail}")

    @contextmanager
    def _translating(self, action: str, *, listing: bool = False) -> Iterator[None]:
        try:
            yield
        except self.libvirt.libvirtError as exc:
            raise self.translate(exc, action, listing=listing)  # noqa: B904 - translate() sets __cause__

    def _list_all(self, what: str, method: str) -> list[Any]:
        """Run one ``conn.listAll*(0)`` call; VIR_ERR_NO_SUPPORT makes the type unavailable."""
        with self._translating(f"listing {what}", listing=True):
            return list(getattr(self._conn, method)(0))

    def _read(self, what: str, gone: tuple[int, ...], read: Callable[..., T], *args: Any) -> T | None:
        """``read(*args)`` for one listed object; None when libvirt answers with a ``gone`` code (it vanished)."""
        with self._translating(f"reading {what}"):
            try:
                return read(*args)
            except self.libvirt.libvirtError as exc:
                if exc.get_error_code() in gone:
                    return None
                raise

    def _xml(self, what: str, obj: Any, flags: int) -> str:
        """``obj.XMLDesc(flags)``, falling back to ``XMLDesc(0)`` where the driver refuses the flag."""
        if flags and what not in self._refused_flags:
            try:
                return str(obj.XMLDesc(flags))
            except self.libvirt.libvirtError as exc:
                if exc.get_error_code() not in (self.libvirt.VIR_ERR_INVALID_ARG, self.libvirt.VIR_ERR_NO_SUPPORT):
                    raise
                self._refused_flags.add(what)
                log.info("libvirt_xml_flag_refused", source=self.settings.source, object=what, flags=flags)
        return str(obj.XMLDesc(0))

    # -- reads ------------------------------------------------------------------------

    def hostname(self) -> str:
        """The node's hostname (the key of its libvirt.host entity)."""
        with self._translating("reading the hostname"):
            return str(self._conn.getHostname())

    def host(self) -> HostRecord:
        """What the node reports about itself; free memory is None where the driver does not tell."""
        conn = self._conn
        with self._translating("reading the host"):
            hypervisor_version = self._optional(conn.getVersion)
            return HostRecord(
                hostname=str(conn.getHostname()),
                hypervisor=str(conn.getType()),
                hypervisor_version=hypervisor_version,
                libvirt_version=int(conn.getLibVersion()),
                node_info=tuple(conn.getInfo()),
                capabilities_xml=str(conn.getCapabilities()),
                free_memory=self._optional(conn.getFreeMemory),
            )

    def _optional(self, call: Callable[[], Any]) -> int | None:
        try:
            return int(call())
        except self.libvirt.libvirtError as exc:
            if exc.get_error_code() in (self.libvirt.VIR_ERR_NO_SUPPORT, self.libvirt.VIR_ERR_INVALID_ARG):
                return None
            raise

    def domains(self, live_xml: bool) -> Iterator[DomainRecord]:
        """Every domain, active and inactive, with its inactive definition unless ``live_xml``."""
        flags = 0 if live_xml else self.libvirt.VIR_DOMAIN_XML_INACTIVE  # never VIR_DOMAIN_XML_SECURE
        gone = (self.libvirt.VIR_ERR_NO_DOMAIN,)
        for dom in self._list_all("domains", "listAllDomains"):
            record = self._read("a domain", gone, self._domain, dom, flags)
            if record is not None:
                yield record

    def domain_by_uuid(self, uuid: str, live_xml: bool) -> DomainRecord | None:
        """The domain with this UUID, or None when libvirt says there is none (or the UUID is malformed)."""
        flags = 0 if live_xml else self.libvirt.VIR_DOMAIN_XML_INACTIVE
        gone = (self.libvirt.VIR_ERR_NO_DOMAIN, self.libvirt.VIR_ERR_INVALID_ARG)
        dom = self._read("a domain", gone, self._conn.lookupByUUIDString, uuid)
        return None if dom is None else self._read("a domain", gone, self._domain, dom, flags)

    def _domain(self, dom: Any, flags: int) -> DomainRecord:
        persistent = bool(dom.isPersistent())
        return DomainRecord(
            uuid=str(dom.UUIDString()),
            name=str(dom.name()),
            state=int(dom.state()[0]),
            autostart=bool(dom.autostart()) if persistent else False,
            persistent=persistent,
            xml=self._xml("domain", dom, flags),
        )

    def networks(self, live_xml: bool) -> Iterator[NetworkRecord]:
        """Every virtual network with its inactive definition unless ``live_xml``."""
        flags = 0 if live_xml else self.libvirt.VIR_NETWORK_XML_INACTIVE
        gone = (self.libvirt.VIR_ERR_NO_NETWORK,)
        for net in self._list_all("networks", "listAllNetworks"):
            record = self._read("a network", gone, self._network, net, flags)
            if record is not None:
                yield record

    def _network(self, net: Any, flags: int) -> NetworkRecord:
        persistent = bool(net.isPersistent())
        return NetworkRecord(
            uuid=str(net.UUIDString()),
            name=str(net.name()),
            active=bool(net.isActive()),
            autostart=bool(net.autostart()) if persistent else False,
            persistent=persistent,
            xml=self._xml("network", net, flags),
        )

    def pools(self, live_xml: bool) -> Iterator[PoolRecord]:
        """Every storage pool with its inactive definition unless ``live_xml``."""
        flags = 0 if live_xml else self.libvirt.VIR_STORAGE_XML_INACTIVE
        gone = (self.libvirt.VIR_ERR_NO_STORAGE_POOL,)
        for pool in self._list_all("storage pools", "listAllStoragePools"):
            record = self._read("a storage pool", gone, self._pool, pool, flags)
            if record is not None:
                yield record

    def _pool(self, pool: Any, flags: int) -> PoolRecord:
        persistent = bool(pool.isPersistent())
        return PoolRecord(
            uuid=str(pool.UUIDString()),
            name=str(pool.name()),
            state=int(pool.info()[0]),
            autostart=bool(pool.autostart()) if persistent else False,
            persistent=persistent,
            xml=self._xml("storage pool", pool, flags),
        )

    def volumes(self) -> Iterator[VolumeRecord]:
        """Every volume of every active pool (libvirt cannot list the volumes of an inactive pool)."""
        pool_gone = (self.libvirt.VIR_ERR_NO_STORAGE_POOL,)
        volume_gone = (self.libvirt.VIR_ERR_NO_STORAGE_VOL,)
        for pool in self._list_all("storage pools", "listAllStoragePools"):
            listed = self._read("a storage pool", pool_gone, self._pool_volumes, pool)
            if listed is None:
                continue
            pool_uuid, volumes = listed
            for vol in volumes:
                record = self._read("a storage volume", volume_gone, self._volume, vol, pool_uuid)
                if record is not None:
                    yield record

    def _pool_volumes(self, pool: Any) -> tuple[str, list[Any]] | None:
        if not pool.isActive():
            return None
        return str(pool.UUIDString()), list(pool.listAllVolumes(0))

    def _volume(self, vol: Any, pool_uuid: str) -> VolumeRecord:
        return VolumeRecord(key=str(vol.key()), name=str(vol.name()), pool_uuid=pool_uuid, xml=str(vol.XMLDesc(0)))

    def interfaces(self, live_xml: bool) -> Iterator[InterfaceRecord]:
        """Every host interface libvirt manages, with its inactive definition unless ``live_xml``."""
        flags = 0 if live_xml else self.libvirt.VIR_INTERFACE_XML_INACTIVE
        gone = (self.libvirt.VIR_ERR_NO_INTERFACE,)
        for iface in self._list_all("interfaces", "listAllInterfaces"):
            record = self._read("an interface", gone, self._interface, iface, flags)
            if record is not None:
                yield record

    def _interface(self, iface: Any, flags: int) -> InterfaceRecord:
        return InterfaceRecord(name=str(iface.name()), active=bool(iface.isActive()), xml=self._xml("interface", iface, flags))

    def nwfilters(self) -> Iterator[NWFilterRecord]:
        """Every network filter with its XML."""
        gone = (self.libvirt.VIR_ERR_NO_NWFILTER,)
        for nwf in self._list_all("network filters", "listAllNWFilters"):
            record = self._read("a network filter", gone, self._nwfilter, nwf)
            if record is not None:
                yield record

    def _nwfilter(self, nwf: Any) -> NWFilterRecord:
        return NWFilterRecord(uuid=str(nwf.UUIDString()), name=str(nwf.name()), xml=str(nwf.XMLDesc(0)))

    def secrets(self) -> Iterator[SecretRecord]:
        """Every secret's UUID, usage type and usage id; the value is never read."""
        gone = (self.libvirt.VIR_ERR_NO_SECRET,)
        for secret in self._list_all("secrets", "listAllSecrets"):
            record = self._read("a secret", gone, self._secret, secret)
            if record is not None:
                yield record

    def _secret(self, secret: Any) -> SecretRecord:
        usage_id = secret.usageID()
        return SecretRecord(uuid=str(secret.UUIDString()), usage_type=int(secret.usageType()), usage_id=usage_id or None)


class _PendingOpen:
    """Runs ``openAuth`` in a daemon thread so a silent host cannot hang the poll past the timeout.

    libvirt releases the GIL during the call. A connection that opens after we gave up
    is closed by the thread itself, so nothing leaks.
    """

    def __init__(self, opener: Callable[[], Any], libvirt: ModuleType) -> None:
        self._opener = opener
        self._libvirt = libvirt
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._abandoned = False
        self._outcome: Any = None
        threading.Thread(target=self._run, name="libvirt-open", daemon=True).start()

    def _run(self) -> None:
        try:
            outcome: Any = self._opener()
        except Exception as exc:  # handed to the waiting thread, which translates or re-raises it
            outcome = exc
        with self._lock:
            if self._abandoned:
                if not isinstance(outcome, Exception):
                    _close_quietly(outcome, self._libvirt)
                return
            self._outcome = outcome
            self._done.set()

    def wait(self, timeout: float) -> Any:
        """The connection or the libvirtError, or None when ``timeout`` passed first."""
        self._done.wait(timeout)
        with self._lock:
            if not self._done.is_set():
                self._abandoned = True
                return None
            return self._outcome


def _close_quietly(conn: Any, libvirt: ModuleType) -> None:
    with suppress(libvirt.libvirtError):
        conn.close()
