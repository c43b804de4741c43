"""The one boundary between the collector and the ``cs`` library: calls go out, only our errors come back.

Owns the ``cs.CloudStack`` client (POST, signatureVersion 3 with an expiry, TLS
settings), one-page list calls, retries with backoff for 429/timeouts/connection
errors, and the translation of every upstream failure into ``collectors.errors``.
Messages are built from our own fields (source, command, HTTP status, page); never
from upstream exception text, and never with a key, secret or signature.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import requests
from cs import CloudStack, CloudStackApiException, CloudStackException

from collectors.cloudstack.pages import Summary, summarize
from collectors.errors import (
    AuthenticationFailed,
    CollectorError,
    ListingIncomplete,
    SourceFailed,
    SourceUnreachable,
    TypeUnavailable,
)

log = logging.getLogger(__name__)

MAX_DELAY = 30.0
_T = TypeVar("_T")
# Every role may call listCapabilities: it tells a bad key from a command the role may not use.
PROBE_COMMAND = "listCapabilities"
_PAGESIZE_LIMIT = re.compile(r"max allowed page size value: (\d+)")
_ID_UNKNOWN = re.compile(r"Invalid parameter id value=")


class IdNotFound(Exception):
    """An ``id=`` lookup named a uuid the cloud does not know at all (431 'entity does not exist')."""


class CloudStackClient:
    """Signed, paged list calls against one CloudStack endpoint.

    ``list_page`` returns the inner object of one answer (``{"count": N, "<object>": [...]}``
    or ``{}``) or raises AuthenticationFailed, TypeUnavailable, SourceUnreachable or
    ListingIncomplete. ``verify`` is True, False or a CA bundle path.
    """

    def __init__(self, source: str, endpoint: str, api_key: str, secret_key: str, *, timeout: float,
                 verify: bool | str, expires: int | None, retries: int, backoff: float,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.source = source
        self.retries = retries
        self.backoff = backoff
        self._sleep = sleep
        # cs trap 1: GET (its default) puts apiKey and signature into the URL, and so into any
        # requests exception text; POST keeps them in the body.
        # cs trap 2: CloudStack(verify=False) still verifies (``if verify: ... else: not
        # dangerous_no_tls_verify``); only dangerous_no_tls_verify=True turns checks off.
        # expiration < 0 makes cs omit signatureVersion/expires (the ``expires: false`` option).
        # retry=0: cs retries only ConnectionError, not 429 or read timeouts, so all retrying is
        # done in list_page where it is logged and bounded.
        self._cs = CloudStack(
            endpoint, key=api_key, secret=secret_key, method="post", timeout=max(1, int(timeout)),
            verify=verify if verify else None, dangerous_no_tls_verify=verify is False, retry=0,
            expiration=timedelta(seconds=expires) if expires else timedelta(seconds=-1),
        )
        # cs truncates the timeout to whole seconds; requests takes a float.
        self._cs.timeout = timeout  # type: ignore[assignment]

    def close(self) -> None:
        """Close the HTTP session (its pooled connections)."""
        self._cs.session.close()

    @property
    def tls_verify(self) -> bool | str:
        """What is passed to requests as ``verify`` (False only when checks are really off)."""
        return self._cs.verify

    def list_page(self, etype: str, command: str, params: Mapping[str, Any], page: int,
                  page_size: int) -> dict[str, Any]:
        """One page of ``command``; retries 429, timeouts and connection errors with exponential backoff."""
        return self._retried(etype, command, page,
                             lambda: self._call(etype, command, {**params, "page": page, "pagesize": page_size}))

    def list_page_raw(self, etype: str, command: str, params: Mapping[str, Any], page: int, page_size: int,
                      key: str, zones: bool) -> RawAnswer:
        """One page of ``command`` as the API sent it, with its summary (pages.summarize) or, when its
        shape is unusual, its parsed inner object; retried like ``list_page``."""
        return self._retried(etype, command, page, lambda: self._call_raw(
            etype, command, {**params, "page": page, "pagesize": page_size}, key, zones))

    def _retried(self, etype: str, command: str, page: int, call: Callable[[], _T]) -> _T:
        """``call()``, retried on 429, timeouts and connection errors with exponential backoff."""
        attempt = 0
        while True:
            try:
                return call()
            except _Retryable as retry:
                attempt += 1
                if attempt > self.retries:
                    raise retry.final from retry.__cause__
                delay = min(self.backoff * 2 ** (attempt - 1), MAX_DELAY)
                log.warning("cloudstack_retry", extra={
                    "source": self.source, "entity_type": etype, "command": command, "page": page,
                    "reason": retry.reason, "attempt": attempt, "delay_s": round(delay, 2)})
                self._sleep(delay)

    def probe(self) -> None:
        """One ``listCapabilities`` call: the connection and the keys work, or SourceFailed.

        A rejected key is never retried (lockouts); a refused connection is retried only
        while the next try still starts within one ``timeout`` of the first; a timeout is
        not retried, so a black-holed endpoint fails the source after one timeout.
        """
        started = time.monotonic()
        attempt = 0
        while True:
            try:
                self._call("", PROBE_COMMAND, {}, where=f"{PROBE_COMMAND} (source {self.source}, connection check)")
                return
            except _Retryable as retry:
                attempt += 1
                delay = min(self.backoff * 2 ** (attempt - 1), MAX_DELAY)
                late = time.monotonic() + delay - started >= float(self._cs.timeout)
                if attempt > self.retries or retry.reason == "timeout" or late:
                    raise _source_wide(retry.final) from retry.__cause__
                log.warning("cloudstack_retry", extra={
                    "source": self.source, "command": PROBE_COMMAND, "reason": retry.reason, "attempt": attempt,
                    "delay_s": round(delay, 2)})
                self._sleep(delay)
            except TypeUnavailable:
                return  # the role may not call listCapabilities: nothing proven either way, list on
            except CollectorError as exc:
                raise _source_wide(exc) from exc.__cause__

    def lookup(self, etype: str, command: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """An unpaged call for an ``id=`` lookup; IdNotFound when the cloud does not know the uuid."""
        try:
            return self._call(etype, command, dict(params), id_lookup=True)
        except _Retryable as retry:
            raise retry.final from retry.__cause__

    def _call_raw(self, etype: str, command: str, params: dict[str, Any], key: str, zones: bool) -> RawAnswer:
        """A list call signed and sent by ``cs`` exactly as ``_call`` does, its body kept as bytes."""
        answer: list[RawAnswer] = []

        def send() -> dict[str, Any]:
            kind, prepared = self._cs._prepare_request(command, **params)
            response = self._cs._send(kind, prepared, dict(self._cs.headers), self._cs.timeout)
            ctype = response.headers.get("Content-Type", "")
            summary = None
            if response.status_code == 200 and ctype.startswith(("application/json", "text/javascript")):
                summary = summarize(response.content, key, zones)
            if summary is not None:
                answer.append(RawAnswer(response.content, summary, None))
                return {}
            data = self._cs._response_value(response)  # cs's own checks and errors, the body parsed whole
            answer.append(RawAnswer(response.content, None, data))
            return data  # not a dict: _call says so

        self._call(etype, command, params, send=send)
        return answer[0]

    def _call(self, etype: str, command: str, params: dict[str, Any], id_lookup: bool = False,
              where: str = "", send: Callable[[], Any] | None = None) -> dict[str, Any]:
        where = where or f"{command} (source {self.source}, type {etype}, page {params.get('page', 1)})"
        try:
            data = send() if send is not None else getattr(self._cs, command)(**params)
        except CloudStackApiException as exc:
            error = _api_error(exc, where, params, id_lookup)
            if isinstance(error, AuthenticationFailed) and command != PROBE_COMMAND and self._credentials_work():
                # Recent management servers answer 401 (not 432) for a command the role may not call.
                error = TypeUnavailable(f"{where}: answered HTTP 401 although the credentials are accepted for "
                                        f"{PROBE_COMMAND}; this account's role may not call {command}; type skipped")
            raise error from exc
        except CloudStackException as exc:
            status = getattr(getattr(exc, "response", None), "status_code", None)
            if status in (429, 502, 503, 504):
                raise _Retryable(f"http_{status}", ListingIncomplete(
                    f"{where}: the API kept answering HTTP {status} (not a CloudStack answer)")) from exc
            raise ListingIncomplete(f"{where}: unexpected answer (HTTP {status}, not CloudStack JSON)") from exc
        except requests.exceptions.SSLError as exc:
            raise SourceUnreachable(f"{where}: TLS handshake or certificate verification failed") from exc
        except requests.exceptions.Timeout as exc:
            raise _Retryable("timeout", SourceUnreachable(f"{where}: timed out after {self._cs.timeout} s")) from exc
        except requests.exceptions.ConnectionError as exc:
            raise _Retryable("connection", SourceUnreachable(f"{where}: cannot connect to the endpoint")) from exc
        except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError) as exc:
            # F03: the connection broke in the middle of the body: a page error, asked again
            # (offset pages are idempotent); never a short page, never the whole source.
            raise _Retryable("truncated", ListingIncomplete(f"{where}: the answer was cut off mid-body")) from exc
        except requests.exceptions.RequestException as exc:
            raise SourceUnreachable(f"{where}: HTTP request failed ({type(exc).__name__})") from exc
        if not isinstance(data, dict):
            raise ListingIncomplete(f"{where}: the answer is not a JSON object")
        return data


    def _credentials_work(self) -> bool:
        """Whether a listCapabilities call with the same keys succeeds (any failure: no)."""
        try:
            self._cs.listCapabilities()
        except Exception:  # noqa: BLE001 - a probe: every failure only means "not proven"
            return False
        return True


def _source_wide(error: Exception) -> SourceFailed:
    """A connection-check failure as a source-wide one (an HTML page where the API should be, too)."""
    return error if isinstance(error, SourceFailed) else SourceUnreachable(str(error))


@dataclass(frozen=True)
class RawAnswer:
    """One list answer: its body as sent, and either its summary (read without parsing the rows) or,
    for an unusual shape, its inner object parsed here."""

    content: bytes
    summary: Summary | None
    data: Any


class _Retryable(Exception):
    """Internal: a failure worth retrying, carrying the error to raise when retries run out."""

    def __init__(self, reason: str, final: Exception) -> None:
        super().__init__(reason)
        self.reason = reason
        self.final = final


def _api_error(exc: CloudStackApiException, where: str, params: Mapping[str, Any], id_lookup: bool) -> Exception:
    """Translate a CloudStack error answer (HTTP status + errorcode/cserrorcode/errortext)."""
    status = getattr(getattr(exc, "response", None), "status_code", None)
    error = exc.error if isinstance(exc.error, Mapping) else {}
    code = error.get("errorcode", status)
    cs_code = error.get("cserrorcode")
    text = str(error.get("errortext", ""))
    if code == 401 or status == 401:
        return AuthenticationFailed(f"{where}: CloudStack rejected the credentials (HTTP 401); "
                                    "check api_key and secret_key (and the clock, as signed requests expire)")
    if code == 432:
        return TypeUnavailable(f"{where}: the command is not available to this account (HTTP 432); type skipped")
    if code == 429:
        return _Retryable("rate_limited", ListingIncomplete(
            f"{where}: API request limit exceeded (HTTP 429) and still exceeded after retries"))
    if code == 431:
        limit = _PAGESIZE_LIMIT.search(text)
        if limit:
            return ListingIncomplete(f"{where}: page_size {params.get('pagesize')} is larger than this cloud's "
                                     f"maximum page size; set page_size to {int(limit.group(1))} or less")
        if id_lookup and _ID_UNKNOWN.search(text):
            return IdNotFound()
        return ListingIncomplete(f"{where}: the cloud refused a parameter (HTTP 431, cserrorcode {cs_code})")
    return ListingIncomplete(f"{where}: CloudStack error HTTP {status} (errorcode {code}, cserrorcode {cs_code})")
