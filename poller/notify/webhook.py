"""The webhook sink: POSTs notifications to one HTTP(S) URL, as the notification object
(``application/json``, the default) or as CloudEvents 1.0 in structured/batched mode.

It owns the HTTP request, its HMAC signature and the mapping of an answer to delivered,
retry later, or refused for good. It never retries on its own, never follows a redirect,
and never puts the secret, a signature, a header value or the URL's userinfo/query into a
message or a log line.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

import orjson
import requests
import structlog

from poller.errors import DeliveryError, SinkConfigError
from poller.notify.base import OutboxRecord
from poller.notify.options import problem, timeout_option, url_option

# CloudEvents HTTP protocol binding 1.0, sections 3.2 (structured) and 3.3 (batched):
# https://github.com/cloudevents/spec/blob/v1.0/cloudevents/bindings/http-protocol-binding.md
SINGLE_CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
BATCH_CONTENT_TYPE = "application/cloudevents-batch+json; charset=utf-8"
# format: notification is DESIGN.md's notification object, not a CloudEvent: labelled as plain JSON.
NOTIFICATION_CONTENT_TYPE = "application/json; charset=utf-8"
TIMESTAMP_HEADER = "X-Poller-Timestamp"
SIGNATURE_HEADER = "X-Poller-Signature"
SIGNATURE_SCHEME = "v1"
USER_AGENT = "cloud-poller-webhook/1"

DEFAULT_TIMEOUT = 10.0
MAX_BATCH_SIZE = 1000
RETRYABLE_CLIENT_STATUSES = frozenset({408, 429})
EXCERPT_CHARS = 200
_READ_LIMIT = 64 * 1024
FORMATS = ("notification", "cloudevents")
_OPTIONS = frozenset({"url", "timeout", "headers", "secret", "batch_size", "verify", "format", "retry_statuses"})
_OWN_HEADERS = frozenset(h.lower() for h in ("Content-Type", "Content-Length", "Host", TIMESTAMP_HEADER, SIGNATURE_HEADER))
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
REDACTED = "[redacted]"

log = structlog.get_logger(__name__)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Return the signature header value ``v1=<hex HMAC-SHA256 of timestamp + "." + body>``."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return f"{SIGNATURE_SCHEME}={mac.hexdigest()}"


def safe_url(url: str) -> str:
    """Return ``url`` without userinfo, query or fragment: the form used in messages and logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def outcome_of(status: int, retry_statuses: frozenset[int] = RETRYABLE_CLIENT_STATUSES) -> str:
    """Classify an HTTP status: ``delivered`` (2xx), ``refused`` (4xx not in ``retry_statuses``) or ``retry``."""
    if 200 <= status < 300:
        return "delivered"
    if 400 <= status < 500 and status not in retry_statuses:
        return "refused"
    return "retry"


def excerpt(body: bytes, sensitive: Sequence[str]) -> str:
    """Return the first line of ``body``, sensitive strings redacted, control characters dropped, truncated."""
    lines = body.decode("utf-8", errors="replace").strip().splitlines()
    line = lines[0].strip() if lines else ""
    for value in sorted(sensitive, key=len, reverse=True):
        if value:
            line = line.replace(value, REDACTED)
    line = _CONTROL.sub("", line)
    return line if len(line) <= EXCERPT_CHARS else line[:EXCERPT_CHARS] + "..."


@dataclass(frozen=True, slots=True)
class WebhookOptions:
    """The validated options of one webhook sink."""

    url: str
    timeout: float
    headers: Mapping[str, str]
    secret: str | None
    batch_size: int
    verify: bool | str
    format: str = "notification"
    retry_statuses: frozenset[int] = RETRYABLE_CLIENT_STATUSES
    # Every secret to sign with (``secret`` first): during a rotation a request carries one
    # signature per secret, so receivers on the old and on the new secret both verify it (S03).
    secrets: tuple[str, ...] = ()


class _Failure(Exception):
    """One POST did not get through; ``reason`` is built from our own fields only."""

    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


class WebhookSink:
    """POSTs each notification (or each batch of ``batch_size``) to ``url``, in the order handed.

    2xx means delivered; a 4xx other than 408/429 refuses the record for good (DeliveryError
    with ``retryable=False``, its message carrying the status and the answer's first line);
    anything else (5xx, 408, 429, 3xx, connection errors, timeouts) is retryable.
    """

    kind: ClassVar[str] = "webhook"
    durable: ClassVar[bool] = True

    def __init__(self, name: str, options: Mapping[str, Any], *, clock: Callable[[], float] = time.time) -> None:
        self.name = name
        self.options = validate_options(name, options)
        self._clock = clock
        self._target = safe_url(self.options.url)
        self._sensitive = _sensitive_strings(self.options)
        if self.options.verify is False and self.options.url.startswith("https:"):
            log.warning("webhook_tls_unverified", sink=name, url=self._target)
        self._session = requests.Session()
        self._lock = threading.Lock()  # a requests.Session is not documented as thread-safe

    def deliver(self, records: Sequence[OutboxRecord]) -> None:
        """POST ``records`` in order; return when all got a 2xx, else raise DeliveryError."""
        with self._lock:
            done = 0
            for chunk in _chunks(records, self.options.batch_size):
                try:
                    self._post(chunk)
                except _Failure as failure:
                    if failure.retryable or len(chunk) == 1:
                        raise self._error(failure, chunk[0], done, len(records)) from None
                    # The receiver refused a whole batch: find the record it refuses by sending one at a time.
                    self._deliver_singly(chunk, done, len(records))
                done += len(chunk)

    def close(self) -> None:
        """Close the pooled HTTP connections."""
        with self._lock:
            self._session.close()

    def _deliver_singly(self, chunk: Sequence[OutboxRecord], done: int, total: int) -> None:
        for offset, record in enumerate(chunk):
            try:
                self._post([record])
            except _Failure as failure:
                raise self._error(failure, record, done + offset, total) from None

    def _post(self, chunk: Sequence[OutboxRecord]) -> None:
        try:
            body, content_type = _payload(chunk, self.options.batch_size > 1, self.options.format)
        except ValueError:
            raise _Failure("its stored body is not a JSON object (not sent)", retryable=False) from None
        headers = self._headers(body, content_type)
        signature = headers.get(SIGNATURE_HEADER, "")
        try:
            status, answer = self._send(body, headers)
        except (requests.RequestException, OSError) as exc:
            # Upstream text is dropped: requests puts the full URL (query included) in it.
            raise _Failure(_describe(exc, self.options.timeout), retryable=True) from None
        outcome = outcome_of(status, self.options.retry_statuses)
        if outcome == "delivered":
            return
        if outcome == "refused":
            line = excerpt(answer, [*self._sensitive, signature, signature.partition("=")[2]])
            raise _Failure(f"answered HTTP {status}: {line!r}", retryable=False)
        raise _Failure(f"answered HTTP {status}", retryable=True)

    def _send(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        timeout = self.options.timeout
        with self._session.post(
            self.options.url,
            data=body,
            headers=headers,
            timeout=(timeout, timeout),
            verify=self.options.verify,
            allow_redirects=False,
            stream=True,
        ) as response:
            return response.status_code, _read_some(response)

    def _headers(self, body: bytes, content_type: str) -> dict[str, str]:
        headers = {"User-Agent": USER_AGENT, **self.options.headers, "Content-Type": content_type}
        if self.options.secret is not None:
            timestamp = str(int(self._clock()))
            headers[TIMESTAMP_HEADER] = timestamp
            headers[SIGNATURE_HEADER] = " ".join(
                sign(secret, timestamp, body) for secret in (self.options.secrets or (self.options.secret,)))
        return headers

    def _error(self, failure: _Failure, record: OutboxRecord, done: int, total: int) -> DeliveryError:
        message = (
            f"webhook sink {self.name}: POST {self._target} failed for notification {record.id}: "
            f"{failure.reason} ({done} of {total} delivered)"
        )
        return DeliveryError(message, delivered=done, retryable=failure.retryable)


def _chunks(records: Sequence[OutboxRecord], size: int) -> Iterator[Sequence[OutboxRecord]]:
    for start in range(0, len(records), size):
        yield records[start : start + size]


def cloudevent(record: OutboxRecord) -> bytes:
    """Wrap a notification in a CloudEvents 1.0 envelope: CE attributes on top, the notification verbatim as ``data``.

    Needed because CE attribute names must be lower-case letters and digits only (spec v1.0,
    "Attribute Naming Convention"; the Java and JavaScript SDKs reject others), and the
    notification has members such as ``entity_type``. Raises ValueError if the body is not a JSON object.
    """
    note = orjson.loads(record.body)
    if not isinstance(note, dict):
        raise ValueError("a notification must be a JSON object")
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": record.id,
        "source": _text(note.get("source")) or record.source,
        "type": _text(note.get("type")) or f"poller.entity.{record.action}",
    }
    if _text(note.get("time")):
        event["time"] = note["time"]
    if _text(note.get("entity_type")) and note.get("key") is not None:
        event["subject"] = f"{note['entity_type']}/{note['key']}"
    event["datacontenttype"] = "application/json"
    event["data"] = orjson.Fragment(record.body)
    return orjson.dumps(event)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _payload(chunk: Sequence[OutboxRecord], batched: bool, form: str) -> tuple[bytes, str]:
    """Unbatched, one event per body; batched, any chunk (even of one) is a JSON array, in order."""
    if form != "cloudevents":  # the notification object: plain JSON, never labelled a CloudEvent
        bodies = [record.body for record in chunk]
        return (b"[" + b",".join(bodies) + b"]" if batched else bodies[0]), NOTIFICATION_CONTENT_TYPE
    bodies = [cloudevent(record) for record in chunk]
    if not batched:
        return bodies[0], SINGLE_CONTENT_TYPE
    return b"[" + b",".join(bodies) + b"]", BATCH_CONTENT_TYPE


def _read_some(response: requests.Response) -> bytes:
    """Read at most 64 KiB of the answer (enough for an excerpt; a huge answer is not kept)."""
    data = bytearray()
    for piece in response.iter_content(8192):
        data += piece
        if len(data) >= _READ_LIMIT:
            break
    return bytes(data)


def _describe(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, requests.ConnectTimeout):
        return f"connection timed out after {timeout:g}s"
    if isinstance(exc, requests.ReadTimeout):
        return f"no answer within {timeout:g}s"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS handshake or certificate verification failed"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed (refused, reset or name not resolved)"
    return f"request failed ({type(exc).__name__})"


def _sensitive_strings(options: WebhookOptions) -> list[str]:
    """Everything that must never reach a message: secret, header values, userinfo, query."""
    parts = urlsplit(options.url)
    values = [options.secret or "", *options.secrets, *options.headers.values(), parts.query]
    if parts.username is not None:
        # requests sends userinfo as Basic auth; a lone username is often a token (https://<token>@host/).
        user, password = unquote(parts.username), unquote(parts.password or "")
        basic = base64.b64encode(f"{user}:{password}".encode("latin-1", errors="replace")).decode("ascii")
        values += [basic, parts.password or "", password] if parts.password else [basic, parts.username, user]
    values += [value for _, value in parse_qsl(parts.query, keep_blank_values=False)]
    return [value for value in values if value]


def validate_options(name: str, options: Mapping[str, Any]) -> WebhookOptions:
    """Check a webhook sink's options; raise SinkConfigError naming ``notify.sinks.<name>.<field>``."""
    if not isinstance(options, Mapping):
        raise SinkConfigError(f"notify.sinks.{name}: options must be a mapping")
    unknown = sorted(str(key) for key in options if key not in _OPTIONS)
    if unknown:
        raise SinkConfigError(f"notify.sinks.{name}.{unknown[0]}: unknown option for a webhook sink")
    url = url_option(name, options.get("url"), ("http", "https"))
    headers = _header_map(name, options.get("headers") or {})
    if urlsplit(url).username is not None and any(key.lower() == "authorization" for key in headers):
        # requests would silently replace the header with Basic auth built from the URL's userinfo.
        raise problem(name, "headers.Authorization", "conflicts with the user:password given in url")
    return WebhookOptions(
        url=url,
        timeout=timeout_option(name, options.get("timeout", DEFAULT_TIMEOUT)),
        headers=headers,
        secret=_secrets(name, options.get("secret"))[0] if options.get("secret") is not None else None,
        secrets=_secrets(name, options.get("secret")),
        batch_size=_batch_size(name, options.get("batch_size", 1)),
        verify=_verify(name, options.get("verify", True)),
        format=_format(name, options.get("format", FORMATS[0])),
        retry_statuses=_retry_statuses(name, options.get("retry_statuses", [])),
    )








def _header_map(name: str, value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise problem(name, "headers", "must be a mapping of header names to string values")
    headers: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not _HEADER_NAME.match(key):
            raise problem(name, "headers", "has a key that is not a valid HTTP header name")
        if key.lower() in _OWN_HEADERS:
            raise problem(name, f"headers.{key}", "is set by the sink itself and cannot be overridden")
        if not isinstance(item, str) or _CONTROL.search(item.replace("\t", "")):
            raise problem(name, f"headers.{key}", "must be a string without line breaks")
        headers[key] = item
    return headers


def _secrets(name: str, value: Any) -> tuple[str, ...]:
    """One secret, or a list of them while rotating (the first is the new one)."""
    if value is None:
        return ()
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
        raise problem(name, "secret", "must be a non-empty string, or a list of them while rotating")
    return tuple(values)


def _batch_size(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_BATCH_SIZE:
        raise problem(name, "batch_size", f"must be an integer from 1 to {MAX_BATCH_SIZE}")
    return value


def _retry_statuses(name: str, value: Any) -> frozenset[int]:
    """408 and 429 are always retried; the option adds other 4xx (e.g. 401, 403 while a token is being fixed)."""
    if not isinstance(value, list | tuple) or not all(
        isinstance(code, int) and not isinstance(code, bool) and 400 <= code < 500 for code in value
    ):
        raise problem(name, "retry_statuses", "must be a list of 4xx status codes")
    return RETRYABLE_CLIENT_STATUSES | frozenset(value)


def _format(name: str, value: Any) -> str:
    if value not in FORMATS:
        raise problem(name, "format", f"must be one of {', '.join(FORMATS)}")
    return str(value)


def _verify(name: str, value: Any) -> bool | str:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value and os.path.exists(value):
        return value
    raise problem(name, "verify", "must be true, false, or the path of an existing CA bundle file or directory")
