"""CloudStack request signatures, computed exactly as the management server checks them.

Owns the canonical string (parameters sorted by name, values URL-encoded the way
``java.net.URLEncoder`` does with ``+`` turned into ``%20``, everything lower-cased),
the HMAC-SHA1/base64 signature and the signatureVersion 3 expiry rule. The collector
signs through the ``cs`` library; this module exists because the emulator has to
*verify* signatures and ``cs`` only signs. It never logs or returns a secret.

Reference: ApiServer.verifyRequest in apache/cloudstack (sorted parameter names,
``URLEncoder.encode(value, "UTF-8").replaceAll("\\+", "%20")``, ``toLowerCase()``,
HmacSHA1, Base64; with signatureVersion=3 an ``expires`` in ``yyyy-MM-dd'T'HH:mm:ssZ``
that must not be in the past) and the API guide's "Signing API Requests".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import quote_plus

EXPIRES_FORMAT = "%Y-%m-%dT%H:%M:%S%z"


def java_url_encode(value: str) -> str:
    """Encode ``value`` like ``URLEncoder.encode(value, "UTF-8").replaceAll("\\+", "%20")``.

    Java keeps ``A-Z a-z 0-9 . - * _`` and encodes everything else (``~`` included),
    with upper-case hex digits; Python's quote keeps ``~`` too, so it is fixed up.
    """
    return quote_plus(value, safe="*").replace("~", "%7E").replace("+", "%20")


def canonical_query(params: Mapping[str, str]) -> str:
    """The lower-cased string that is signed: every parameter but ``signature``, sorted by name."""
    parts = [f"{name}={java_url_encode(params[name])}" for name in sorted(params) if name.lower() != "signature"]
    return "&".join(parts).lower()


def sign(params: Mapping[str, str], secret_key: str) -> str:
    """Return the base64 HMAC-SHA1 signature of ``params`` under ``secret_key``."""
    digest = hmac.new(secret_key.encode("utf-8"), canonical_query(params).encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def parse_expires(value: str) -> datetime | None:
    """Parse an ``expires`` value (``2026-11-23T10:00:00+0000``); None when malformed."""
    try:
        return datetime.strptime(value, EXPIRES_FORMAT)
    except ValueError:
        return None


def signature_problem(params: Mapping[str, str], secret_for: Mapping[str, str], now: datetime) -> str | None:
    """Why the management server would refuse this request's signature, or None if it is good.

    ``secret_for`` maps API keys to secret keys; ``now`` must be timezone-aware. The
    reason is for the server's own debugging and never contains a key or signature.
    """
    lowered = {name.lower(): value for name, value in params.items()}
    signature, api_key = lowered.get("signature"), lowered.get("apikey")
    if not signature or not api_key:
        return "missing signature or apiKey"
    if lowered.get("signatureversion") == "3":
        expires = parse_expires(lowered.get("expires", ""))
        if expires is None:
            return "missing or malformed expires"
        if expires < now:
            return "request expired"
    secret = secret_for.get(api_key)
    if secret is None:
        return "unknown apiKey"
    if not hmac.compare_digest(sign(params, secret), signature):
        return "signature mismatch"
    return None
