"""Authentication of pushed events: a per-source bearer token or CloudStack's webhook HMAC.

Owns the comparison of credentials; every comparison is constant-time (``hmac.compare_digest``)
and no token, secret or signature is ever returned, logged or put in an exception.

CloudStack webhooks (plugins/event-bus/webhook, WebhookDeliveryThread.generateHMACSignature in
apache/cloudstack) send ``X-CS-Signature: base64(HMAC-SHA256(secret, raw body))`` with the
secret and the body taken as UTF-8 bytes; we verify it over the raw bytes received.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping

from poller.events.config import SourceEvents

SIGNATURE_HEADER = "x-cs-signature"


def sign(secret: str, body: bytes) -> str:
    """The ``X-CS-Signature`` value CloudStack would send for ``body`` (used by tests and docs)."""
    return base64.b64encode(hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


def bearer_ok(expected: str | None, authorization: str | None) -> bool:
    """True when ``authorization`` is ``Bearer <expected>`` (scheme case-insensitive)."""
    if not expected or not authorization:
        return False
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(value.strip().encode("utf-8"), expected.encode("utf-8"))


def signature_ok(secret: str | None, signature: str | None, body: bytes) -> bool:
    """True when ``signature`` is the base64 HMAC-SHA256 of ``body`` under ``secret``."""
    if not secret or not signature:
        return False
    try:
        given = base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return hmac.compare_digest(given, expected)


def needs_body(source: SourceEvents, headers: Mapping[str, str]) -> bool:
    """True when authentication can only be decided with the body (an HMAC signature to check)."""
    return bool(source.hmac_secret) and headers.get(SIGNATURE_HEADER) is not None


def authenticate(source: SourceEvents, headers: Mapping[str, str], body: bytes | None) -> bool:
    """True when the request may post events for ``source``; ``headers`` have lower-case names."""
    if source.auth_none:
        return True
    if bearer_ok(source.token, headers.get("authorization")):
        return True
    return body is not None and signature_ok(source.hmac_secret, headers.get(SIGNATURE_HEADER), body)
