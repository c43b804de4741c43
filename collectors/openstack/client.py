"""The one place the collector talks to openstacksdk: connection, requests, paging, errors.

openstacksdk (over keystoneauth) does configuration (clouds.yaml), authentication,
the service catalog, version discovery, microversion headers and re-authentication
when a token expires or is revoked (keystoneauth invalidates the token on a 401 and
retries once). This module pages itself over the raw JSON: openstacksdk's own
``Resource.list`` follows a next link to whatever host it names with the token,
cannot tell a vanished marker from a failure, and builds Resource objects (60x
slower than the JSON on 10,000 servers). Every openstacksdk/keystoneauth exception
is translated here, once, into a collector error whose text is built from our own
fields only (never upstream text, never the password).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import keystoneauth1.exceptions as ks
import openstack.config
import openstack.connection
import openstack.exceptions as sdk
import requests
from keystoneauth1 import discover
from keystoneauth1.adapter import Adapter

from collectors.errors import (
    AuthenticationFailed,
    CollectorError,
    ListingIncomplete,
    OptionError,
    SourceFailed,
    SourceUnreachable,
    TypeUnavailable,
)
from collectors.openstack.options import ENVVARS, OpenStackOptions
from collectors.openstack.pages import Summary, Unusual, loads, summarize, summary_of

# service type in the catalog -> openstacksdk Connection attribute
SERVICE_ATTRS = {"identity": "identity", "compute": "compute", "network": "network", "image": "image",
                 "block-storage": "block_storage", "placement": "placement", "orchestration": "orchestration"}
# An answer whose body broke off (keystoneauth wraps these in a connection error).
_CUT_MID_BODY = (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)
THROTTLE_STATUSES = (429, 503)
THROTTLE_RETRIES = 4
MAX_RELISTS = 3  # a vanished marker restarts a listing at most this many times


@dataclass(frozen=True)
class Page:
    """One listing page: its number, its body as sent, what the pager read of it, the indexes of the
    records to take (in order; None for all) and the parsed body when it had to be parsed here."""

    number: int
    data: bytes
    summary: Summary
    keep: tuple[int, ...] | None
    body: Any = None


class Forbidden(ListingIncomplete):
    """The API answered 403: the credentials may not list this type (e.g. no admin role)."""


@dataclass(frozen=True)
class Query:
    """How to list one type: where, under which JSON key, with which parameters and microversion."""

    service: str
    path: str
    key: str
    params: Mapping[str, str] = field(default_factory=dict)
    microversion: str | None = None
    paged: bool = True
    id_field: str = "id"


class OpenStackClient:
    """A lazily made openstacksdk Connection plus raw, checked, paged GETs."""

    def __init__(self, source: str, options: OpenStackOptions) -> None:
        self.source = source
        self.options = options
        self.region = self._region()  # reads clouds.yaml (no network) so a wrong name fails early
        self._conn: openstack.connection.Connection | None = None
        self._auth_host = urlsplit(str(self.region.auth.get("auth_url") or "")).netloc or "the auth URL"

    def _region(self) -> Any:
        o = self.options
        kwargs: dict[str, Any] = {"api_timeout": o.timeout}
        for name in ("region_name", "interface", "verify", "cacert"):
            if getattr(o, name) is not None:
                kwargs[name] = getattr(o, name)
        try:
            if o.cloud is not None:
                files = list(openstack.config.loader.CONFIG_FILES)
                secure = list(openstack.config.loader.SECURE_FILES)
                if os.environ.get("OS_CLIENT_CONFIG_FILE"):
                    files.insert(0, os.environ["OS_CLIENT_CONFIG_FILE"])
                if os.environ.get("OS_CLIENT_SECURE_FILE"):
                    secure.insert(0, os.environ["OS_CLIENT_SECURE_FILE"])
                # The OS_* variables make openstacksdk's "envvars" cloud; a named cloud is read
                # from clouds.yaml alone, so a stray openrc in the environment cannot change it.
                envvars = o.cloud == ENVVARS
                if envvars and not os.environ.get("OS_AUTH_URL"):
                    raise OptionError(self.source, "cloud", "is envvars but OS_AUTH_URL is not set (source an "
                                                            "openrc file: OS_AUTH_URL, OS_USERNAME, OS_PASSWORD ...)")
                config = openstack.config.OpenStackConfig(config_files=files, secure_files=secure,
                                                          load_envvars=envvars)
                return config.get_one(cloud=o.cloud, **kwargs)
            config = openstack.config.OpenStackConfig(load_yaml_config=False, load_envvars=False)
            return config.get_one(auth_type=o.auth_type, auth=dict(o.auth), identity_api_version="3", **kwargs)
        except (sdk.ConfigException, ks.ClientException) as exc:
            field_name = "cloud" if o.cloud is not None else "auth"
            what = f"no usable cloud named {o.cloud!r} in clouds.yaml" if o.cloud is not None else \
                "openstacksdk cannot build a connection from these settings"
            raise OptionError(self.source, field_name, what) from exc

    @property
    def connection(self) -> openstack.connection.Connection:
        if self._conn is None:
            self._conn = openstack.connection.Connection(config=self.region, strict_proxies=False)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    # -- the translation boundary ---------------------------------------------------------
    @contextlib.contextmanager
    def boundary(self, what: str) -> Iterator[None]:
        """Translate every openstacksdk/keystoneauth error raised inside into a collector error."""
        try:
            yield
        except CollectorError:
            raise
        except (ks.ClientException, sdk.SDKException) as exc:
            raise self.translate(exc, what) from exc

    def translate(self, exc: BaseException, what: str) -> CollectorError:
        """Our error for an upstream one, from our own fields only (keystoneauth may hide the
        real cause, a refused connection or a TLS failure, in the context of a DiscoveryFailure)."""
        src = f"source {self.source!r}"
        chain = _chain(exc)
        if any(isinstance(e, ks.Unauthorized) for e in chain):
            return AuthenticationFailed(f"{src}: the identity service at {self._auth_host} rejected the "
                                        f"credentials of {self._principal()} (HTTP 401) while {what}")
        if any(isinstance(e, ks.SSLError) for e in chain):
            return SourceUnreachable(f"{src}: TLS verification failed talking to {self._auth_host} or an endpoint "
                                     f"while {what} (check verify/cacert)")
        if any(isinstance(e, _CUT_MID_BODY) for e in chain):
            # F03: the connection broke inside an answer's body: this page failed (the type's
            # listing is incomplete, nothing is deleted); the endpoint itself is reachable.
            return ListingIncomplete(f"{src}: an answer was cut off mid-body while {what}")
        if any(isinstance(e, ks.ConnectTimeout) for e in chain):
            return SourceUnreachable(f"{src}: timed out while {what} (auth URL host {self._auth_host})")
        if any(isinstance(e, ks.ConnectionError) for e in chain):
            return SourceUnreachable(f"{src}: could not connect while {what} (auth URL host {self._auth_host})")
        if isinstance(exc, ks.EndpointNotFound | sdk.ServiceDisabledException):
            return TypeUnavailable(f"{src}: the service is not in the catalog ({what})")
        if isinstance(exc, ks.DiscoveryFailure):
            return ListingIncomplete(f"{src}: API version discovery failed while {what} "
                                     f"(is the auth URL at {self._auth_host} a Keystone endpoint?)")
        if isinstance(exc, ks.HttpError):
            return ListingIncomplete(f"{src}: HTTP {exc.http_status} while {what}")
        return ListingIncomplete(f"{src}: {type(exc).__name__} from openstacksdk while {what}")

    def authenticate(self) -> None:
        """Get a token once (one ``POST /v3/auth/tokens``); SourceFailed when that fails for any reason.

        Every listing afterwards reuses the token (keystoneauth re-authenticates once on a
        401 or an expired token); nothing can be listed without it.
        """
        try:
            with self.boundary("authenticating"):
                self.connection.authorize()
        except SourceFailed:
            raise
        except CollectorError as exc:
            raise SourceFailed(str(exc)) from exc.__cause__

    def _principal(self) -> str:
        """Whose credentials were rejected: from the inline auth, else from the loaded cloud (no secret)."""
        if self.options.auth:
            return self.options.principal
        auth = self.region.auth
        if auth.get("application_credential_id") or auth.get("application_credential_name"):
            return f"application credential {auth.get('application_credential_id') or auth['application_credential_name']}"
        return str(auth.get("username") or auth.get("user_id") or "the configured user")

    def proxy(self, service: str, what: str) -> Any:
        """The openstacksdk proxy (a keystoneauth Adapter) of a catalog service; TypeUnavailable if absent."""
        with self.boundary(what):
            proxy = getattr(self.connection, SERVICE_ATTRS[service])
            try:
                endpoint = Adapter.get_endpoint(proxy)  # the identity proxy shadows get_endpoint
            except (ks.EndpointNotFound, sdk.ServiceDisabledException) as exc:
                raise TypeUnavailable(f"source {self.source!r}: no {service!r} service in the catalog "
                                      f"(region {self.options.region_name or self.region.region_name or 'any'}); "
                                      f"skipping {what.removeprefix('listing ')}") from exc
            if not endpoint:
                raise TypeUnavailable(f"source {self.source!r}: no {service!r} endpoint in the catalog")
        return proxy

    def check_microversion(self, proxy: Any, query: Query, etype: str) -> None:
        """ListingIncomplete when the cloud's maximum microversion is below the one the type is pinned to."""
        if query.microversion is None:
            return
        with self.boundary(f"discovering the {query.service} API for {etype}"):
            data = proxy.get_endpoint_data()
        maximum = getattr(data, "max_microversion", None)
        if maximum and discover.normalize_version_number(query.microversion) > maximum:
            raise ListingIncomplete(f"source {self.source!r}: {etype} is listed at {query.service} microversion "
                                    f"{query.microversion}, the cloud offers up to "
                                    f"{discover.version_to_string(maximum)}")

    # -- requests ---------------------------------------------------------------------------
    def get(self, proxy: Any, path: str, params: Mapping[str, str], microversion: str | None,
            what: str) -> tuple[int, Any]:
        """One GET relative to the service endpoint: (status, parsed JSON body or None)."""
        status, content = self.get_raw(proxy, path, params, microversion, what)
        if content is None:
            return status, None
        try:
            return status, loads(content)
        except ValueError as exc:
            raise ListingIncomplete(f"source {self.source!r}: malformed JSON while {what}") from exc

    def get_raw(self, proxy: Any, path: str, params: Mapping[str, str], microversion: str | None,
                what: str) -> tuple[int, bytes | None]:
        """One GET relative to the service endpoint: (status, the body's bytes, None for an error status)."""
        with self.boundary(what):
            # F06: 429 and 503 are retried by keystoneauth, honouring Retry-After (seconds) when the
            # service sends it, else its own growing delay (keystoneauth1.session._send_request).
            kwargs: dict[str, Any] = {"params": dict(params), "raise_exc": False,
                                      "headers": {"Accept": "application/json"},
                                      "status_code_retries": THROTTLE_RETRIES,
                                      "retriable_status_codes": list(THROTTLE_STATUSES)}
            if microversion is not None:
                kwargs["microversion"] = microversion
            response = proxy.get(path, **kwargs)
        if response.status_code >= 400:
            return response.status_code, None
        return response.status_code, response.content

    def records(self, query: Query, etype: str, page_size: int) -> Iterator[dict[str, Any]]:
        """Every record of a listing, page after page, parsed here; raises when the listing cannot be whole."""
        for page in self.pages(query, etype, page_size):
            body = page.body if page.body is not None else loads(page.data)
            items = body[query.key]
            for index in page.keep if page.keep is not None else range(len(items)):
                yield items[index]

    def pages(self, query: Query, etype: str, page_size: int, servers: bool = False) -> Iterator[Page]:
        """Every page of a listing as the API sent it, with the records to take from it; raises when
        the listing cannot be whole.

        A failed page, a next link that does not advance or points at another host
        or scheme than the catalog endpoint end the listing (ListingIncomplete); a
        vanished marker (400/404 on a page after the first) restarts it from the
        start, at most MAX_RELISTS times, without taking a record twice. Pages are
        read whole only when their shape is unusual (see pages.summarize).
        """
        what = f"listing {etype}"
        proxy = self.proxy(query.service, what)
        self.check_microversion(proxy, query, etype)
        with self.boundary(what):
            endpoint = urlsplit(Adapter.get_endpoint(proxy))
        seen: dict[str, int] = {}  # key -> the pass that first saw it
        for attempt in range(MAX_RELISTS + 1):
            restarted = yield from self._one_pass(proxy, query, etype, page_size, endpoint, seen, attempt, servers)
            if not restarted:
                return
        raise ListingIncomplete(f"source {self.source!r}: the paging marker of {etype} vanished "
                                f"{MAX_RELISTS + 1} times; listing abandoned")

    def _one_pass(self, proxy: Any, query: Query, etype: str, page_size: int, endpoint: Any,
                  seen: dict[str, int], pass_no: int, servers: bool) -> Generator[Page, None, bool]:
        """Page through once; returns True when a marker vanished and the listing must restart."""
        params = dict(query.params)
        if query.paged:
            params["limit"] = str(page_size)
        asked: set[tuple[tuple[str, str], ...]] = set()
        page = 0
        while True:
            page += 1
            cursor = tuple(sorted(params.items()))
            if cursor in asked:
                raise ListingIncomplete(f"source {self.source!r}: the next link of {etype} does not advance "
                                        f"(page {page}); listing abandoned")
            asked.add(cursor)
            what = f"listing {etype} page {page}"
            status, data = self.get_raw(proxy, query.path, params, query.microversion, what)
            if status in (400, 404) and "marker" in params:
                return True
            self._check_status(status, etype, page)
            assert data is not None
            body, summary = self._summary(data, query, servers, what)
            if summary is None:
                raise ListingIncomplete(f"source {self.source!r}: page {page} of {etype} has no {query.key!r} list")
            if summary.truncated:
                raise ListingIncomplete(f"source {self.source!r}: the API truncated the {etype} listing "
                                        "(raise its list_limit)")
            keep: list[int] = []
            repeated = 0
            for index, key in enumerate(summary.keys):
                if key is None:
                    raise ListingIncomplete(f"source {self.source!r}: a record on page {page} of {etype} has no "
                                            f"{query.id_field!r}")
                first = seen.get(key)
                if first == pass_no:
                    repeated += 1
                    continue
                if first is None:
                    seen[key] = pass_no
                    keep.append(index)
                else:
                    seen[key] = pass_no
            if keep:
                whole = len(keep) == len(summary.keys)
                yield Page(page, data, summary, None if whole else tuple(keep), body)
            if summary.keys and repeated == len(summary.keys) and page > 1:
                raise ListingIncomplete(f"source {self.source!r}: page {page} of {etype} repeats earlier records")
            href = summary.next_href
            if not href or not query.paged:
                return False
            params = self._next_params(href, endpoint, etype, page)
            params.setdefault("limit", str(page_size))

    def _summary(self, data: bytes, query: Query, servers: bool, what: str) -> tuple[Any, Summary | None]:
        """(the parsed body or None, the page's summary or None when it has no list): read cheaply
        unless the page's shape is unusual, then parsed whole here."""
        try:
            return None, summarize(data, query.key, query.id_field, servers)
        except Unusual:
            pass
        try:
            body = loads(data)
        except ValueError as exc:
            raise ListingIncomplete(f"source {self.source!r}: malformed JSON while {what}") from exc
        return body, summary_of(body, query.key, query.id_field, servers)

    def _check_status(self, status: int, etype: str, page: int) -> None:
        src = f"source {self.source!r}"
        if status < 400:
            return
        if status == 404 and page == 1:
            raise TypeUnavailable(f"{src}: the API answers 404 for {etype} (extension or plugin absent); skipping")
        if status == 401:
            raise AuthenticationFailed(f"{src}: the cloud refused the token while listing {etype} page {page} "
                                       "(HTTP 401 after re-authentication)")
        if status == 403:
            raise Forbidden(f"{src}: listing {etype} is forbidden (HTTP 403); "
                                    "the credentials lack the admin role or the policy forbids it")
        if status == 406:
            raise ListingIncomplete(f"{src}: the cloud does not accept the microversion {etype} is listed with "
                                    "(HTTP 406)")
        raise ListingIncomplete(f"{src}: HTTP {status} on page {page} of {etype}")

    def _next_params(self, href: str, endpoint: Any, etype: str, page: int) -> dict[str, str]:
        """The next page's query, taken from its link; never a link to another host or scheme."""
        link = urlsplit(href)
        foreign = (link.scheme.lower(), _hostport(link)) != (endpoint.scheme.lower(), _hostport(endpoint))
        if (link.scheme or link.netloc) and foreign:
            raise ListingIncomplete(
                f"source {self.source!r}: the next link of {etype} (page {page}) points at "
                f"{link.scheme}://{_hostport(link)}, not the catalog endpoint "
                f"{endpoint.scheme}://{_hostport(endpoint)}; not followed")
        params = {k: v[-1] for k, v in parse_qs(link.query, keep_blank_values=True).items()}
        if "marker" not in params:
            raise ListingIncomplete(f"source {self.source!r}: the next link of {etype} (page {page}) has no marker")
        return params


def _chain(exc: BaseException) -> list[BaseException]:
    """An exception and its causes/contexts, outermost first (cycles cut)."""
    out: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in out:
        out.append(current)
        current = current.__cause__ or current.__context__
    return out


def _hostport(parts: Any) -> str:
    host = (parts.hostname or "").lower()
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    return f"{host}:{port}"
