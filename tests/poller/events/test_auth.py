"""Bearer tokens and CloudStack webhook signatures: what passes and what does not."""

from __future__ import annotations

import base64
import hashlib
import hmac

from hypothesis import given
from hypothesis import strategies as st

from poller.events.auth import authenticate, bearer_ok, sign, signature_ok
from poller.events.config import SourceEvents


class TestBearer:
    def test_exact_token_passes(self) -> None:
        """``Bearer <token>`` passes, whatever the scheme's case."""
        assert bearer_ok("abc", "Bearer abc") and bearer_ok("abc", "bearer abc")

    def test_other_values_fail(self) -> None:
        """Missing, other-scheme, prefixed or empty values fail."""
        for header in (None, "", "abc", "Basic abc", "Bearer ab", "Bearer abcd", "Bearer "):
            assert not bearer_ok("abc", header)


class TestSignature:
    def test_matches_cloudstack_generation(self) -> None:
        """sign() is base64(HMAC-SHA256(secret, body)) as WebhookDeliveryThread.generateHMACSignature computes it."""
        body = b'{"event":"VM.CREATE"}'
        expected = base64.b64encode(hmac.new(b"k", body, hashlib.sha256).digest()).decode()
        assert sign("k", body) == expected and signature_ok("k", expected, body)

    @given(st.binary(max_size=200), st.binary(min_size=1, max_size=200))
    def test_signature_binds_the_body(self, body: bytes, other: bytes) -> None:
        """A signature over one body never verifies another."""
        signature = sign("secret", body)
        assert signature_ok("secret", signature, body)
        assert not signature_ok("secret", signature, body + other)

    def test_garbage_signature_fails(self) -> None:
        """Non-base64 or empty signatures fail without raising."""
        for value in (None, "", "!!!", "YWJj"):
            assert not signature_ok("secret", value, b"abc")


class TestAuthenticate:
    def test_either_scheme_passes_when_both_are_configured(self) -> None:
        """A source with a token and an HMAC secret accepts either."""
        source = SourceEvents("s", token="t", hmac_secret="k")
        assert authenticate(source, {"authorization": "Bearer t"}, b"{}")
        assert authenticate(source, {"x-cs-signature": sign("k", b"{}")}, b"{}")
        assert not authenticate(source, {}, b"{}")

    def test_auth_none_passes_everything(self) -> None:
        """auth: none is explicit and lets any request through."""
        assert authenticate(SourceEvents("s", auth_none=True), {}, b"")
