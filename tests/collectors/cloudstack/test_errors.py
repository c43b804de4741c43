"""Failures become our errors with clear messages and never leak a key, secret or signature."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from collectors.cloudstack.collector import CloudStackCollector
from collectors.cloudstack.emulator import CloudStackEmulator
from collectors.errors import AuthenticationFailed, ListingIncomplete, SourceUnreachable, TypeUnavailable
from tests.collectors.cloudstack.conftest import run

Make = Callable[..., CloudStackCollector]
CANARY_SECRET = "canary-secret-Zq8vW3"


def leaks(text: str, emulator: CloudStackEmulator, secret: str) -> bool:
    """Whether ``text`` holds the API key, a secret, or a signature parameter."""
    return emulator.api_key in text or secret in text or "signature=" in text.lower()


class TestAuthentication:
    def test_wrong_secret_is_authentication_failed(self, make_collector: Make) -> None:
        """B11: A 401 ends the listing with AuthenticationFailed saying the credentials were rejected."""
        listing, entities = run(make_collector(secret_key=CANARY_SECRET), "cloudstack.zone")
        assert (listing.complete, entities, type(listing.error)) == (False, [], AuthenticationFailed)
        assert "rejected the credentials" in str(listing.error)

    def test_no_secret_in_message_traceback_or_logs(self, make_collector: Make, emulator: CloudStackEmulator,
                                                    caplog: pytest.LogCaptureFixture,
                                                    capfd: pytest.CaptureFixture[str]) -> None:
        """Neither the error, its formatted traceback chain, the logs nor stdout/stderr hold key or secret."""
        caplog.set_level(logging.DEBUG)
        listing, _ = run(make_collector(secret_key=CANARY_SECRET, retries=2), "cloudstack.host")
        assert listing.error is not None
        chain = "".join(traceback.format_exception(listing.error))
        out, err = capfd.readouterr()
        assert not leaks(str(listing.error) + repr(listing.error) + chain + caplog.text + out + err,
                         emulator, CANARY_SECRET)

    def test_expired_clock_reads_as_rejected(self, make_collector: Make, emulator: CloudStackEmulator) -> None:
        """F05: A server clock far ahead of ours makes signed requests expire: reported as rejected credentials."""
        emulator.clock = lambda: datetime.now(UTC) + timedelta(hours=1)
        listing, _ = run(make_collector(), "cloudstack.zone")
        assert isinstance(listing.error, AuthenticationFailed)


FAILURES: dict[str, Callable[[CloudStackEmulator], None]] = {
    "401": lambda emu: setattr(emu, "api_key", "rotated-" + emu.api_key),
    "429": lambda emu: emu.inject_error("listHosts", 429, times=None),
    "432": lambda emu: emu.disable_command("listHosts"),
    "530": lambda emu: emu.inject_error("listHosts", 530, page=2),
    "timeout": lambda emu: emu.inject_delay("listHosts", 1.0, times=None),
    "refused": lambda emu: emu.stop(),
}


class TestNoSecretOnAnyFailurePath:
    @pytest.mark.parametrize("failure", sorted(FAILURES))
    def test_failure_output_holds_no_key_or_secret(self, failure: str, make_collector: Make,
                                                   emulator: CloudStackEmulator, caplog: pytest.LogCaptureFixture,
                                                   capfd: pytest.CaptureFixture[str]) -> None:
        """B12: Each failure path's error, cause chain, logs and std streams hold neither the key nor the secret."""
        caplog.set_level(logging.DEBUG)
        api_key, secret = emulator.api_key, emulator.secret_key
        collector = make_collector(page_size=3, retries=1, timeout=0.2)
        FAILURES[failure](emulator)
        listing, _ = run(collector, "cloudstack.host")
        error = listing.error or listing.unavailable
        assert error is not None
        text = "".join(traceback.format_exception(error)) + repr(error) + caplog.text + "".join(capfd.readouterr())
        assert api_key not in text and secret not in text and "signature=" not in text.lower()

    @pytest.mark.parametrize("failure", sorted(FAILURES))
    def test_failure_is_translated_at_the_boundary(self, failure: str, make_collector: Make,
                                                   emulator: CloudStackEmulator) -> None:
        """No upstream exception escapes untranslated (the Listing would wrap it as 'collector raised ...')."""
        collector = make_collector(page_size=3, retries=1, timeout=0.2)
        FAILURES[failure](emulator)
        listing, _ = run(collector, "cloudstack.host")
        error = listing.error or listing.unavailable
        assert error is not None and "collector raised" not in str(error)


class TestRoleDenied:
    def test_401_for_a_forbidden_command_with_good_keys_skips_the_type(self, make_collector: Make,
                                                                       emulator: CloudStackEmulator) -> None:
        """S11: A 401 for one command while listCapabilities works means the role may not call it: type skipped."""
        emulator.forbid_command("listImageStores")
        listing, _ = run(make_collector(), "cloudstack.imagestore")
        assert (listing.error, type(listing.unavailable)) == (None, TypeUnavailable)
        assert "role may not call listImageStores" in str(listing.unavailable)

    def test_401_with_bad_keys_stays_authentication_failed(self, make_collector: Make,
                                                           emulator: CloudStackEmulator) -> None:
        """With a wrong secret the probe fails too: AuthenticationFailed."""
        listing, _ = run(make_collector(secret_key="wrong"), "cloudstack.imagestore")
        probes = [r for r in emulator.requests if r.command == "listCapabilities"]
        assert (type(listing.error), len(probes)) == (AuthenticationFailed, 1)


class TestRateLimit:
    def test_429_backs_off_and_succeeds(self, make_collector: Make, emulator: CloudStackEmulator,
                                        caplog: pytest.LogCaptureFixture) -> None:
        """F06: Two 429 answers are retried with backoff and the listing completes."""
        caplog.set_level(logging.WARNING)
        emulator.inject_error("listHosts", 429, page=2, times=2)
        listing, hosts = run(make_collector(page_size=3, retries=3), "cloudstack.host")
        assert (listing.complete, len(hosts)) == (True, 10)
        assert caplog.text.count("cloudstack_retry") == 2

    def test_429_beyond_retries_is_incomplete(self, make_collector: Make, emulator: CloudStackEmulator) -> None:
        """F06: A 429 that outlasts the retries makes the listing incomplete."""
        emulator.inject_error("listHosts", 429, times=None)
        listing, _ = run(make_collector(retries=2), "cloudstack.host")
        assert type(listing.error) is ListingIncomplete and "429" in str(listing.error)
        assert len([r for r in emulator.requests if r.command == "listHosts"]) == 3


class TestOtherErrors:
    def test_432_skips_the_type(self, make_collector: Make, emulator: CloudStackEmulator) -> None:
        """A command unavailable to the account (432) makes the type unavailable, not failed."""
        emulator.disable_command("listVPCs")
        listing, _ = run(make_collector(), "cloudstack.vpc")
        assert (listing.complete, listing.error, type(listing.unavailable)) == (False, None, TypeUnavailable)
        assert "not available to this account" in str(listing.unavailable)

    def test_pagesize_too_big_says_so_and_suggests_the_limit(self) -> None:
        """B10: A 431 for the page size names page_size and the cloud's maximum."""
        with CloudStackEmulator(max_page_size=100) as emu:
            emu.seed_demo()
            collector = CloudStackCollector("cs1", emu.source_options(page_size=500))
            listing, _ = run(collector, "cloudstack.zone")
        assert type(listing.error) is ListingIncomplete
        assert "page_size 500 is larger than this cloud's maximum page size; set page_size to 100" in str(listing.error)

    def test_530_is_incomplete(self, make_collector: Make, emulator: CloudStackEmulator) -> None:
        """An internal error (530) makes the listing incomplete with the status in the message."""
        emulator.inject_error("listZones", 530)
        listing, _ = run(make_collector(), "cloudstack.zone")
        assert type(listing.error) is ListingIncomplete and "HTTP 530" in str(listing.error)

    def test_timeout_is_retried_then_unreachable(self, make_collector: Make, emulator: CloudStackEmulator) -> None:
        """F02: A page slower than the timeout is retried, then reported as SourceUnreachable."""
        emulator.inject_delay("listZones", 2.0, times=None)
        listing, _ = run(make_collector(timeout=0.3, retries=1), "cloudstack.zone")
        assert type(listing.error) is SourceUnreachable and "timed out" in str(listing.error)

    def test_timeout_once_then_success(self, make_collector: Make, emulator: CloudStackEmulator) -> None:
        """F02: One slow answer is retried and the listing completes."""
        emulator.inject_delay("listZones", 2.0, times=1)
        listing, zones = run(make_collector(timeout=0.3, retries=2), "cloudstack.zone")
        assert (listing.complete, len(zones)) == (True, 2)

    def test_unreachable_endpoint(self, make_collector: Make, emulator: CloudStackEmulator) -> None:
        """A closed port is SourceUnreachable."""
        collector = make_collector(retries=0)
        emulator.stop()
        listing, _ = run(collector, "cloudstack.zone")
        assert type(listing.error) is SourceUnreachable

    def test_stop_also_ends_kept_alive_connections(self, make_collector: Make, emulator: CloudStackEmulator) -> None:
        """After stop(), even a pooled keep-alive connection gets no answer: SourceUnreachable."""
        collector = make_collector(retries=0)
        assert run(collector, "cloudstack.zone")[0].complete
        emulator.stop()
        listing, _ = run(collector, "cloudstack.pod")
        assert type(listing.error) is SourceUnreachable

    def test_non_json_answer_is_incomplete(self, make_collector: Make, emulator: CloudStackEmulator) -> None:
        """B01: A wrong path (HTML 404) is an incomplete listing, not a crash."""
        listing, _ = run(make_collector(endpoint=emulator.endpoint.replace("/client/api", "/nothing")),
                         "cloudstack.zone")
        assert type(listing.error) is ListingIncomplete and "HTTP 404" in str(listing.error)
