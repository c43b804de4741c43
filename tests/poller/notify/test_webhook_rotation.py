"""Webhook secret rotation: two active secrets, each receiver verifies with its own (S03)."""

from __future__ import annotations

import pytest

from poller.errors import SinkConfigError
from poller.notify.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookSink
from tests.poller.notify.test_webhook import Receiver, load_verify_recipe, make_records

NEW, OLD = "S3CRET-new-rotation-1", "S3CRET-old-rotation-0"


class TestRotation:
    def test_S03_both_secrets_verify_during_rotation(self, receiver: Receiver) -> None:
        """S03: with secret [new, old] every request verifies under either secret, and not under a third."""
        verify = load_verify_recipe()
        WebhookSink("hook", {"url": receiver.url, "secret": [NEW, OLD]}).deliver(make_records(3))
        got = receiver.accepted()
        assert len(got) == 3
        assert all(verify(NEW, r.headers, r.body) and verify(OLD, r.headers, r.body) for r in got)
        assert not any(verify("another", r.headers, r.body) for r in got)
        assert all(len(r.headers[SIGNATURE_HEADER].split()) == 2 for r in got)

    def test_S03_retry_is_signed_afresh_with_the_same_id(self, receiver: Receiver) -> None:
        """S03: a retried request carries a new timestamp and signature over the same body (same event id)."""
        clock = iter([1_000_000.0, 1_000_060.0])
        records = make_records(1)
        sink = WebhookSink("hook", {"url": receiver.url, "secret": NEW}, clock=lambda: next(clock))
        sink.deliver(records)
        sink.deliver(records)
        first, second = receiver.accepted()
        assert first.body == second.body
        assert first.headers[TIMESTAMP_HEADER] != second.headers[TIMESTAMP_HEADER]
        assert first.headers[SIGNATURE_HEADER] != second.headers[SIGNATURE_HEADER]

    def test_S03_secret_list_must_hold_strings(self) -> None:
        """An empty list or a non-string member is a configuration error naming the field."""
        for bad in ([], [NEW, 3]):
            with pytest.raises(SinkConfigError, match="secret"):
                WebhookSink("hook", {"url": "http://127.0.0.1:9/", "secret": bad})
