"""WebhookSink against a real HTTP receiver on 127.0.0.1: formats, answers, outages, signatures, secrets."""

from __future__ import annotations

import re
import time
import traceback
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from structlog.testing import capture_logs

from poller.errors import DeliveryError, SinkConfigError
from poller.notify.base import OutboxRecord
from poller.notify.webhook import (
    BATCH_CONTENT_TYPE,
    SIGNATURE_HEADER,
    SINGLE_CONTENT_TYPE,
    TIMESTAMP_HEADER,
    WebhookSink,
    cloudevent,
    excerpt,
    outcome_of,
    safe_url,
    sign,
)
from tests.poller.notify.conftest import Answer, Receiver, drive, load_verify_recipe, make_records

SECRET = "s3cr3t-for-tests"


_OPENED: list[WebhookSink] = []


def sink_for(url: str, **options: Any) -> WebhookSink:
    """A sink on ``url`` (CloudEvents envelope unless the test picks a format), closed after the test."""
    sink = WebhookSink("hook", {"url": url, "format": "cloudevents", **options})
    _OPENED.append(sink)
    return sink


@pytest.fixture(autouse=True)
def _close_sinks() -> Iterator[None]:
    yield
    while _OPENED:
        _OPENED.pop().close()


class TestOptions:
    def test_defaults(self) -> None:
        """Only url is required; the other options take their documented defaults."""
        options = sink_for("https://example.invalid/h").options
        assert (options.timeout, options.batch_size, options.verify, options.secret, dict(options.headers)) == (
            10.0,
            1,
            True,
            None,
            {},
        )

    def test_timeout_takes_a_duration(self) -> None:
        """timeout accepts the config's duration strings as well as numbers."""
        minute, fraction = sink_for("http://h/", timeout="1m"), sink_for("http://h/", timeout=2.5)
        assert (minute.options.timeout, fraction.options.timeout) == (60.0, 2.5)

    def test_kind_and_durability(self) -> None:
        """The class declares kind webhook and is durable."""
        assert (WebhookSink.kind, WebhookSink.durable) == ("webhook", True)

    def test_url_required(self) -> None:
        """A missing url is an error naming notify.sinks.<name>.url."""
        with pytest.raises(SinkConfigError, match=r"notify\.sinks\.hook\.url: is required"):
            WebhookSink("hook", {})

    def test_url_scheme_checked_without_echoing_it(self) -> None:
        """A non-HTTP url is refused, and the error does not repeat the url (it may hold a password)."""
        with pytest.raises(SinkConfigError, match=r"notify\.sinks\.hook\.url") as info:
            sink_for("ftp://user:pw-canary@127.0.0.1/x")
        assert "pw-canary" not in str(info.value)

    @pytest.mark.parametrize(
        ("field", "value"),
        [("timeout", 0), ("timeout", True), ("timeout", "soon"), ("batch_size", 0), ("batch_size", 1001),
         ("batch_size", 2.0), ("secret", ""), ("verify", "/nonexistent/ca.pem"), ("headers", ["X: y"]),
         ("format", "xml"), ("retry_statuses", [500]), ("retry_statuses", "401")],
    )
    def test_bad_values_name_the_field(self, field: str, value: Any) -> None:
        """Each invalid option value raises SinkConfigError naming that field."""
        with pytest.raises(SinkConfigError, match=rf"notify\.sinks\.hook\.{field}"):
            sink_for("http://127.0.0.1/h", **{field: value})

    def test_unknown_option(self) -> None:
        """An unknown option is an error naming it."""
        with pytest.raises(SinkConfigError, match=r"notify\.sinks\.hook\.retries: unknown option"):
            sink_for("http://127.0.0.1/h", retries=3)

    def test_own_headers_cannot_be_overridden(self) -> None:
        """headers may not set Content-Type or the signature headers."""
        with pytest.raises(SinkConfigError, match=r"notify\.sinks\.hook\.headers\.x-poller-signature"):
            sink_for("http://127.0.0.1/h", headers={"x-poller-signature": "v1=0"})

    def test_header_value_without_line_breaks(self) -> None:
        """A header value with a line break is refused (header injection)."""
        with pytest.raises(SinkConfigError, match=r"notify\.sinks\.hook\.headers\.X-Token"):
            sink_for("http://127.0.0.1/h", headers={"X-Token": "a\r\nX-Evil: 1"})

    def test_userinfo_conflicts_with_authorization_header(self) -> None:
        """A URL with user:password and an Authorization header is refused (requests would drop the header)."""
        with pytest.raises(SinkConfigError, match=r"headers\.Authorization: conflicts"):
            sink_for("http://u:p@127.0.0.1/h", headers={"Authorization": "Bearer t"})


class TestHelpers:
    def test_safe_url_strips_userinfo_query_fragment(self) -> None:
        """safe_url keeps scheme, host, port and path only."""
        assert safe_url("https://u:p@Hook.example:8443/a/b?token=x#f") == "https://hook.example:8443/a/b"

    @pytest.mark.parametrize(
        ("status", "outcome"),
        [(200, "delivered"), (204, "delivered"), (400, "refused"), (404, "refused"), (408, "retry"),
         (429, "retry"), (500, "retry"), (503, "retry"), (302, "retry")],
    )
    def test_outcome_of(self, status: int, outcome: str) -> None:
        """2xx delivers, 4xx but 408/429 refuses, the rest retries."""
        assert outcome_of(status) == outcome

    def test_excerpt_first_line_truncated_and_redacted(self) -> None:
        """excerpt keeps the first line, redacts sensitive strings, and cuts at 200 characters."""
        text = excerpt(b"  bad token tok-123 " + b"x" * 300 + b"\nsecond", ["tok-123"])
        assert text.startswith("bad token [redacted] x") and text.endswith("...") and len(text) == 203

    def test_cloudevent_envelope_is_strict(self) -> None:
        """The envelope has only lower-case alphanumeric attribute names, the CE attributes, and the notification."""
        record = make_records(1)[0]
        event = orjson.loads(cloudevent(record))
        assert all(re.fullmatch(r"[a-z0-9]+", key) for key in event)
        assert {k: event[k] for k in ("specversion", "id", "source", "type", "subject", "datacontenttype")} == {
            "specversion": "1.0", "id": "n-0001", "source": "os1", "type": "poller.entity.updated",
            "subject": "compute.server/vm-1", "datacontenttype": "application/json",
        }
        assert event["data"] == orjson.loads(record.body) and event["time"] == "2026-11-23T08:00:00Z"

    def test_signature_verifies_with_documented_recipe(self) -> None:
        """S03: A signature made by sign() passes the verify() recipe from docs/sinks.md, and fails with another key."""
        verify = load_verify_recipe()
        timestamp = str(int(time.time()))
        headers = {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: sign(SECRET, timestamp, b"{}")}
        assert verify(SECRET, headers, b"{}") and not verify("other", headers, b"{}")

    def test_recipe_rejects_old_timestamps(self) -> None:
        """S03: The documented recipe refuses a correctly signed request older than its tolerance."""
        verify = load_verify_recipe()
        timestamp = str(int(time.time()) - 3600)
        headers = {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: sign(SECRET, timestamp, b"{}")}
        assert not verify(SECRET, headers, b"{}")


class TestDelivery:
    def test_each_notification_posted_as_a_cloudevent_in_order(self, receiver: Receiver) -> None:
        """By default every notification is POSTed alone, in order, as a structured CloudEvent, with custom headers."""
        records = make_records(4)
        sink_for(receiver.url, headers={"X-Team": "infra"}).deliver(records)
        got = receiver.accepted()
        events = [orjson.loads(r.body) for r in got]
        assert [e["id"] for e in events] == [r.id for r in records]
        assert [e["data"] for e in events] == [orjson.loads(r.body) for r in records]
        assert {r.headers["Content-Type"] for r in got} == {SINGLE_CONTENT_TYPE}
        assert {r.headers["X-Team"] for r in got} == {"infra"}
        assert SIGNATURE_HEADER not in got[0].headers

    def test_batches_are_json_arrays(self, receiver: Receiver) -> None:
        """With batch_size 3, seven notifications go as arrays of 3, 3 and 1, in order, as CloudEvents batches."""
        records = make_records(7)
        sink_for(receiver.url, batch_size=3).deliver(records)
        got = receiver.accepted()
        assert [len(orjson.loads(r.body)) for r in got] == [3, 3, 1]
        assert [e["data"]["id"] for r in got for e in orjson.loads(r.body)] == [r.id for r in records]
        assert {r.headers["Content-Type"] for r in got} == {BATCH_CONTENT_TYPE}

    def test_client_error_is_permanent_with_first_line(self, receiver: Receiver) -> None:
        """A 400 on the third record raises a non-retryable error at index 2 carrying status and first body line."""
        receiver.script.extend([Answer(), Answer(), Answer(400, b"invalid event: no subject\nsecond line")])
        with pytest.raises(DeliveryError) as info:
            sink_for(receiver.url).deliver(make_records(5))
        error = info.value
        assert (error.retryable, error.delivered) == (False, 2)
        assert "400" in str(error) and "invalid event: no subject" in str(error) and "n-0003" in str(error)
        assert "second line" not in str(error)
        assert len(receiver.receipts) == 3

    def test_refused_batch_is_resent_one_by_one(self, receiver: Receiver) -> None:
        """When a batch gets a 4xx, its records are resent singly so only the refused one is reported."""
        receiver.script.extend([Answer(413, b"too large"), Answer(), Answer(422, b"bad n-0002")])
        with pytest.raises(DeliveryError) as info:
            sink_for(receiver.url, batch_size=3).deliver(make_records(3))
        assert (info.value.retryable, info.value.delivered) == (False, 1)
        assert "422" in str(info.value) and "n-0002" in str(info.value)

    @pytest.mark.parametrize("status", [408, 429, 500, 503])
    def test_retryable_statuses(self, receiver: Receiver, status: int) -> None:
        """F19: 408, 429 and 5xx raise a retryable error counting the records delivered before."""
        receiver.script.extend([Answer(), Answer(status, b"busy")])
        with pytest.raises(DeliveryError) as info:
            sink_for(receiver.url).deliver(make_records(3))
        assert (info.value.retryable, info.value.delivered) == (True, 1)
        assert str(status) in str(info.value)

    def test_retry_statuses_extends_retryable_4xx(self, receiver: Receiver) -> None:
        """With retry_statuses [401] a 401 is retryable, while 408 stays retryable and 403 is still refused."""
        receiver.script.extend([Answer(401, b"expired token"), Answer(408), Answer(403)])
        sink = sink_for(receiver.url, retry_statuses=[401])
        outcomes = []
        for _ in range(3):
            with pytest.raises(DeliveryError) as info:
                sink.deliver(make_records(1))
            outcomes.append(info.value.retryable)
        assert outcomes == [True, True, False]

    def test_redirect_not_followed(self, receiver: Receiver) -> None:
        """A 307 is not followed (headers must not travel elsewhere); it is retryable."""
        receiver.script.append(Answer(307, b"", headers=(("Location", "/elsewhere"),)))
        with pytest.raises(DeliveryError) as info:
            sink_for(receiver.url).deliver(make_records(1))
        assert info.value.retryable and [r.path for r in receiver.receipts] == ["/hook"]

    def test_connection_refused_is_retryable(self, closed_port: int) -> None:
        """A closed port raises a retryable error with nothing delivered."""
        with pytest.raises(DeliveryError) as info:
            sink_for(f"http://127.0.0.1:{closed_port}/hook").deliver(make_records(2))
        assert (info.value.retryable, info.value.delivered) == (True, 0)
        assert "connection failed" in str(info.value)

    def test_slow_answer_times_out_retryably(self, receiver: Receiver) -> None:
        """An answer slower than timeout raises a retryable error saying so."""
        receiver.script.append(Answer(delay=1.0))
        started = time.monotonic()
        with pytest.raises(DeliveryError) as info:
            sink_for(receiver.url, timeout=0.2).deliver(make_records(1))
        assert info.value.retryable and "no answer within 0.2s" in str(info.value)
        assert time.monotonic() - started < 0.9

    def test_requests_are_signed(self, receiver: Receiver) -> None:
        """S03: With a secret every request carries the clock's timestamp and a signature the docs recipe verifies."""
        verify = load_verify_recipe()
        now = time.time()
        WebhookSink("hook", {"url": receiver.url, "secret": SECRET, "batch_size": 2, "format": "cloudevents"}, clock=lambda: now).deliver(
            make_records(3)
        )
        got = receiver.accepted()
        assert {r.headers[TIMESTAMP_HEADER] for r in got} == {str(int(now))}
        assert all(verify(SECRET, r.headers, r.body) for r in got)
        assert not any(verify(SECRET + "x", r.headers, r.body) for r in got)

    def test_default_format_is_the_bare_notification(self) -> None:
        """Without a format option the notification object itself is POSTed (DESIGN.md's format)."""
        assert WebhookSink("hook", {"url": "http://127.0.0.1:9/"}).options.format == "notification"

    def test_notification_format_posts_bodies_verbatim(self, receiver: Receiver) -> None:
        """With format notification each stored body is POSTed byte for byte, batched as a plain array."""
        records = make_records(3)
        sink_for(receiver.url, format="notification").deliver(records)
        sink_for(receiver.url, format="notification", batch_size=3).deliver(records)
        got = receiver.accepted()
        assert [r.body for r in got[:3]] == [r.body for r in records]
        assert got[3].body == b"[" + b",".join(r.body for r in records) + b"]"

    def test_body_that_is_not_an_object_is_refused(self, receiver: Receiver) -> None:
        """A stored body that is not a JSON object cannot become a CloudEvent: it is refused for good, unsent."""
        bad = OutboxRecord(7, "os1", "compute.server", "create", "bad-1", b"[1]")
        with pytest.raises(DeliveryError) as info:
            sink_for(receiver.url, batch_size=2).deliver([*make_records(1), bad])
        assert (info.value.retryable, info.value.delivered) == (False, 1)
        assert "bad-1" in str(info.value) and "not a JSON object" in str(info.value)
        assert len(receiver.receipts) == 1

    def test_empty_batch_sends_nothing(self, receiver: Receiver) -> None:
        """Delivering no records makes no request."""
        sink_for(receiver.url).deliver([])
        assert receiver.receipts == []


class TestTls:
    def test_self_signed_refused_with_verify_true(self, tls_receiver: Receiver) -> None:
        """S02: Against a self-signed certificate, the default verify=true fails retryably, saying TLS failed."""
        with pytest.raises(DeliveryError) as info:
            sink_for(tls_receiver.url).deliver(make_records(1))
        assert info.value.retryable and "TLS" in str(info.value)
        assert tls_receiver.receipts == []

    def test_ca_bundle_path_verifies(self, tls_receiver: Receiver, certificate: tuple[str, str]) -> None:
        """verify set to the certificate's file trusts it and delivers."""
        sink_for(tls_receiver.url, verify=certificate[0]).deliver(make_records(2))
        assert len(tls_receiver.accepted()) == 2

    @pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
    def test_verify_false_delivers_and_warns(self, tls_receiver: Receiver) -> None:
        """S02: verify false delivers without checking, and the sink logs a warning when built."""
        with capture_logs() as logs:
            sink = sink_for(tls_receiver.url, verify=False)
        sink.deliver(make_records(1))
        assert len(tls_receiver.accepted()) == 1
        assert [e["event"] for e in logs] == ["webhook_tls_unverified"]


class TestOutage:
    def test_every_notification_arrives_in_order_through_an_outage(self, receiver: Receiver) -> None:
        """F18: Through 500s, a closed port, a lost answer and recovery, all arrive in order, duplicates keep their id."""
        records = make_records(12)
        verify = load_verify_recipe()
        sink = sink_for(receiver.url, secret=SECRET, timeout=0.3)
        receiver.script.extend([Answer(), Answer(), Answer(), Answer(500, b"down")])
        def recover_losing_one_answer() -> None:
            receiver.script.append(Answer(delay=0.8))
            receiver.start()

        steps = {1: lambda: receiver.script.append(Answer(500, b"still down")), 2: receiver.stop,
                 4: recover_losing_one_answer}
        seen: list[DeliveryError] = []

        def on_failure(exc: DeliveryError) -> None:
            seen.append(exc)
            steps.get(len(seen), lambda: None)()

        failures = drive(sink, records, on_failure=on_failure)
        sink.close()

        reasons = [str(f) for f in failures]
        assert [("HTTP 500" in r, "connection failed" in r, "no answer" in r) for r in reasons] == [
            (True, False, False), (True, False, False), (False, True, False), (False, True, False),
            (False, False, True),
        ]
        got = receiver.accepted()
        ids = [orjson.loads(r.body)["data"]["id"] for r in got]
        assert list(dict.fromkeys(ids)) == [r.id for r in records]
        assert len(ids) > len(records), "the lost answer should have caused one duplicate"
        by_id = {r.id: cloudevent(r) for r in records}
        assert all(r.body == by_id[i] for r, i in zip(got, ids, strict=True))
        assert all(verify(SECRET, r.headers, r.body) for r in got)


class TestSecrets:
    CANARIES = ("pw-canary-1", "q-canary-2", "s-canary-3", "h-canary-4")

    def _errors(self, receiver: Receiver, closed_port: int) -> list[DeliveryError]:
        options = {"secret": "s-canary-3", "headers": {"X-Api-Token": "h-canary-4"}, "timeout": 0.2}
        live = sink_for(f"http://poller:pw-canary-1@127.0.0.1:{receiver.port}/hook?token=q-canary-2", **options)
        dead = sink_for(f"http://poller:pw-canary-1@127.0.0.1:{closed_port}/hook?token=q-canary-2", **options)
        receiver.script.extend([Answer(400, echo=True), Answer(401, echo=True), Answer(500, echo=True),
                                Answer(delay=0.6)])
        errors = []
        for sink in (live, live, live, live, dead):
            with pytest.raises(DeliveryError) as info:
                sink.deliver(make_records(1))
            errors.append(info.value)
        return errors

    def test_no_secret_in_any_error(self, receiver: Receiver, closed_port: int) -> None:
        """B12: Across refusals that echo every header, 5xx, timeouts and refused connections, no secret leaks."""
        errors = self._errors(receiver, closed_port)
        signatures = [r.headers[SIGNATURE_HEADER] for r in receiver.receipts]
        forbidden = [*self.CANARIES, *signatures, *(s.removeprefix("v1=") for s in signatures)]
        basic = [r.headers["Authorization"].split()[1] for r in receiver.receipts]
        forbidden += basic
        assert "echo /hook" in str(errors[0]), "the receiver's echo should be in the message, redacted"
        for error in errors:
            text = str(error) + repr(error) + "".join(traceback.format_exception(error))
            leaked = [value for value in forbidden if value in text]
            assert leaked == [], f"leaked into: {error}"
