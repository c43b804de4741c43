"""The OpenStack collector against the emulator over real HTTP: every type, idle stability,
and each failure path (auth, reachability, catalog, extensions, paging, token expiry)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest

from collectors.base import Entity
from collectors.errors import AuthenticationFailed, ListingIncomplete, SourceUnreachable, TypeUnavailable
from collectors.openstack import types as t
from collectors.openstack.collector import OpenStackCollector
from collectors.openstack.emulator import OpenStackEmulator
from collectors.openstack.emulator.demo import ADMIN_PASSWORD
from tests.collectors.openstack.conftest import Clock, normalized, run

Make = Callable[..., OpenStackCollector]

EXPECTED = {
    "identity.domain": 2, "identity.project": 3, "identity.user": 3, "compute.server": 4, "compute.flavor": 3,
    "compute.hypervisor": 3, "compute.service": 5, "compute.aggregate": 1, "compute.keypair": 1,
    "image.image": 3, "network.network": 3, "network.subnet": 3, "network.port": 6, "network.router": 2,
    "network.floating_ip": 0, "network.security_group": 4, "block_storage.volume": 2,
    "block_storage.snapshot": 1, "placement.resource_provider": 4, "orchestration.stack": 2,
}


class TestEveryType:
    """Each of the 20 declared types lists completely from the emulator, paged."""

    def test_declares_twenty_types(self) -> None:
        """The collector declares exactly the 20 types of the issue."""
        assert sorted(e.name for e in OpenStackCollector.entity_types) == sorted(EXPECTED)

    @pytest.mark.parametrize("name", sorted(EXPECTED))
    def test_lists_type(self, make_collector: Make, name: str) -> None:
        """A small page size still yields every entity of the type, complete, keys unique."""
        listing, items = run(make_collector(page_size=1), name)
        assert listing.complete, listing.error
        assert len(items) == EXPECTED[name]
        assert len({e.key for e in items}) == len(items)
        assert all(isinstance(e, Entity) and e.type == name for e in items)

    def test_server_fields_and_parent(self, emulator: OpenStackEmulator, make_collector: Make) -> None:
        """A server's key, name, state, project and hypervisor parent come from the record."""
        _, items = run(make_collector(), "compute.server")
        web1 = next(e for e in items if e.name == "web-1")
        record = emulator.cloud.get("compute.server", web1.key)
        assert record is not None
        hypervisor = emulator.cloud.find("compute.hypervisor",
                                         hypervisor_hostname=record["OS-EXT-SRV-ATTR:hypervisor_hostname"])
        assert (web1.state, web1.project) == ("ACTIVE", record["tenant_id"])
        assert web1.parent is not None and web1.parent.key == hypervisor["id"]  # type: ignore[index]
        assert web1.attributes["flavor"]["original_name"] == "m1.small"  # microversion 2.47 shape

    def test_parents_of_other_types(self, make_collector: Make) -> None:
        """Volumes hang under their server, snapshots under their volume, subnets under their network."""
        collector = make_collector()
        servers = {e.key for e in run(collector, "compute.server")[1]}
        volumes = run(collector, "block_storage.volume")[1]
        attached = [v for v in volumes if v.parent is not None]
        assert len(attached) == 1 and attached[0].parent.key in servers  # type: ignore[union-attr]
        snapshot = run(collector, "block_storage.snapshot")[1][0]
        assert snapshot.parent is not None and snapshot.parent.key in {v.key for v in volumes}
        networks = {e.key for e in run(collector, "network.network")[1]}
        assert all(s.parent is not None and s.parent.key in networks for s in run(collector, "network.subnet")[1])

    def test_attributes_are_the_raw_body(self, make_collector: Make) -> None:
        """Attributes hold the API body only: no openstacksdk-computed field such as location."""
        _, items = run(make_collector(), "network.port")
        assert all("location" not in e.attributes for e in items)
        assert all("binding:vif_type" in e.attributes for e in items)

    def test_pinned_microversion_sent(self, emulator: OpenStackEmulator, make_collector: Make) -> None:
        """Hypervisors are listed at the pinned microversion, so usage counters are still returned."""
        _, items = run(make_collector(), "compute.hypervisor")
        assert all("vcpus_used" in e.attributes for e in items)
        assert t.COMPUTE_HYPERVISOR_MV in t.COMPUTE_HYPERVISOR.fingerprint


class TestIdleCloud:
    """An idle cloud listed twice gives identical hashed content for every type."""

    @pytest.mark.parametrize("name", sorted(EXPECTED))
    def test_idle_twice_identical(self, make_collector: Make, clock: Clock, name: str) -> None:
        """F29: Volatile fields removed and declared sets sorted, two listings are equal."""
        collector = make_collector(page_size=2)
        etype = collector.entity_type(name)
        first = {e.key: normalized(etype, e) for e in run(collector, name)[1]}
        clock.advance(30)  # heartbeats move
        second = {e.key: normalized(etype, e) for e in run(collector, name)[1]}
        assert first == second

    def test_raw_listings_do_move(self, make_collector: Make, clock: Clock) -> None:
        """F29: Without the declarations the emulator's idle cloud would not be stable (so the test above bites)."""
        collector = make_collector()
        before = {e.key: dict(e.attributes) for e in run(collector, "compute.service")[1]}
        groups = {e.key: e.attributes["security_group_rules"] for e in run(collector, "network.security_group")[1]}
        clock.advance(30)
        after = {e.key: dict(e.attributes) for e in run(collector, "compute.service")[1]}
        orders = [{e.key: e.attributes["security_group_rules"] for e in run(collector, "network.security_group")[1]}
                  for _ in range(5)]
        assert before != after
        assert any(o != groups for o in orders)


def _error(make_collector: Make, name: str = "compute.server", **options: Any) -> Any:
    listing, items = run(make_collector(**options), name)
    assert not listing.complete
    return listing


class TestFailures:
    """Each failure is one clear line naming the source, and never a secret."""

    def test_wrong_password(self, emulator: OpenStackEmulator) -> None:
        """B11: A rejected password is AuthenticationFailed, naming source and user, not the password."""
        options = emulator.source_options()
        options["auth"]["password"] = "wrong-canary-password"
        collector = OpenStackCollector("os-test", options)
        listing, items = run(collector, "compute.server")
        assert items == [] and isinstance(listing.error, AuthenticationFailed)
        message = str(listing.error)
        assert "os-test" in message and "admin" in message and "401" in message
        assert "wrong-canary-password" not in message and "\n" not in message

    def test_unreachable_auth_url(self, emulator: OpenStackEmulator) -> None:
        """Nothing listening at the auth URL is SourceUnreachable."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        options = emulator.source_options(timeout=5)
        options["auth"]["auth_url"] = f"http://127.0.0.1:{port}/identity"
        listing, _ = run(OpenStackCollector("os-test", options), "compute.flavor")
        assert isinstance(listing.error, SourceUnreachable)
        assert "os-test" in str(listing.error) and ADMIN_PASSWORD not in str(listing.error)

    def test_slow_api_times_out(self, emulator: OpenStackEmulator, make_collector: Make) -> None:
        """F02: An API slower than the timeout makes the listing SourceUnreachable, not a hang."""
        emulator.inject(r"/flavors/detail", delay=3.0, times=None)
        listing = _error(make_collector, "compute.flavor", timeout=0.5)
        assert isinstance(listing.error, SourceUnreachable) and "timed out" in str(listing.error)

    def test_missing_service(self, emulator: OpenStackEmulator, make_collector: Make) -> None:
        """A service absent from the catalog makes its types unavailable (skipped), not failed."""
        emulator.hide_service("orchestration")
        listing, items = run(make_collector(), "orchestration.stack")
        assert items == [] and listing.error is None
        assert isinstance(listing.unavailable, TypeUnavailable) and "orchestration" in str(listing.unavailable)

    def test_missing_extension(self, emulator: OpenStackEmulator, make_collector: Make) -> None:
        """A 404 for a type's resource (Neutron without its router plugin) makes it unavailable."""
        emulator.remove_extension("network.router")
        listing, _ = run(make_collector(), "network.router")
        assert isinstance(listing.unavailable, TypeUnavailable) and listing.error is None

    def test_forbidden(self, emulator: OpenStackEmulator, make_collector: Make) -> None:
        """F07/S11: A 403 is an incomplete listing with a line saying so."""
        emulator.inject(r"/os-hypervisors/detail", 403)
        listing = _error(make_collector, "compute.hypervisor")
        assert isinstance(listing.error, ListingIncomplete) and "403" in str(listing.error)

    def test_server_error_mid_pagination(self, emulator: OpenStackEmulator, make_collector: Make) -> None:
        """F01: A 500 on page 3 leaves the listing incomplete after yielding the first pages."""
        emulator.inject(r"/servers/detail", 500, skip=2)
        listing, items = run(make_collector(page_size=1), "compute.server")
        assert not listing.complete and isinstance(listing.error, ListingIncomplete)
        assert len(items) == 2 and "page 3" in str(listing.error)

    def test_non_advancing_next_link(self, emulator: OpenStackEmulator, make_collector: Make) -> None:
        """F09: A next link equal to the page just read ends the listing incomplete."""
        emulator.inject(r"/v2.0/ports", next_link="repeat", skip=1)
        listing = _error(make_collector, "network.port", page_size=2)
        assert "does not advance" in str(listing.error)

    def test_foreign_next_link_not_followed(self, emulator: OpenStackEmulator, make_collector: Make) -> None:
        """F10/S08: A next link to another host is not followed (no token leaves) and the listing is incomplete."""
        with OpenStackEmulator() as other:
            emulator.inject(r"/v2/images", next_link=other.base_url)
            listing = _error(make_collector, "image.image", page_size=1)
            assert "not followed" in str(listing.error)
            assert other.requests == []

    def test_other_scheme_next_link_not_followed(self, emulator: OpenStackEmulator, make_collector: Make) -> None:
        """F10: A next link that switches scheme (https) is not followed either."""
        emulator.inject(r"/volumes/detail", next_link=emulator.base_url.replace("http:", "https:"))
        listing = _error(make_collector, "block_storage.volume", page_size=1)
        assert "not followed" in str(listing.error)

    def test_vanished_marker_relists(self, emulator: OpenStackEmulator, make_collector: Make) -> None:
        """F11: When the marker server is deleted between pages, the listing restarts and yields each key once."""
        collector = make_collector(page_size=2)
        victims: list[str] = []

        def delete_marker(req: Any) -> None:
            marker = req.arg("marker")
            victims.append(marker)
            emulator.cloud.delete("compute.server", marker)
        emulator.inject(r"/servers/detail", query="marker=", call=delete_marker)
        listing, items = run(collector, "compute.server")
        assert listing.complete, listing.error
        keys = [e.key for e in items]
        assert len(keys) == len(set(keys)) == 4  # the deleted one was yielded before it vanished
        assert victims and victims[0] in keys

    def test_marker_vanishing_forever(self, emulator: OpenStackEmulator, make_collector: Make) -> None:
        """F11: A marker that keeps vanishing ends the listing incomplete after a bounded number of relists."""
        emulator.inject(r"/servers/detail", 400, query="marker=", times=None)
        listing = _error(make_collector, "compute.server", page_size=1)
        assert "vanished" in str(listing.error)
        pages = [r for r in emulator.requests if r.path.endswith("/servers/detail")]
        assert len(pages) == 8  # 4 passes of (first page + failing second page)

    def test_record_without_id(self, emulator: OpenStackEmulator, make_collector: Make) -> None:
        """B16: A listed record without its id makes the listing incomplete, naming the source."""
        router = emulator.cloud.all("network.router")[0]
        del emulator.cloud.collections["network.router"].live[router["id"]]["id"]
        listing = _error(make_collector, "network.router")
        assert "os-test" in str(listing.error) and "'id'" in str(listing.error)

    def test_malformed_page(self, emulator: OpenStackEmulator, make_collector: Make) -> None:
        """B01: A page without its collection key is incomplete, not a crash."""
        emulator.inject(r"/os-aggregates", 200)
        listing = _error(make_collector, "compute.aggregate")
        assert isinstance(listing.error, ListingIncomplete)


class TestTokens:
    """Keystone tokens that expire or are revoked mid-listing are renewed; the listing continues."""

    def test_revoked_mid_listing(self, emulator: OpenStackEmulator, make_collector: Make) -> None:
        """F04: A token revoked before page 2 is answered 401; keystoneauth re-authenticates and page 2 is retried."""
        emulator.inject(r"/servers/detail", revoke_tokens=True, skip=1)
        listing, items = run(make_collector(page_size=1), "compute.server")
        assert listing.complete and len(items) == 4
        auths = [r for r in emulator.requests if r.path.endswith("/auth/tokens")]
        assert len(auths) == 2
        assert any(r.status == 401 for r in emulator.requests)
        pages = [r for r in emulator.requests if r.path.endswith("/servers/detail") and r.status == 200]
        assert len(pages) == 5  # no restart from scratch: 4 one-item pages and the empty last one

    def test_expired_mid_listing(self, emulator: OpenStackEmulator, make_collector: Make, clock: Clock) -> None:
        """F04: A token whose lifetime ends during the listing (the cloud's clock moves) is renewed."""
        emulator.set_token_ttl(600)
        emulator.inject(r"/v2.0/networks", call=lambda req: clock.advance(3600), skip=1)
        listing, items = run(make_collector(page_size=1), "network.network")
        assert listing.complete and len(items) == 3
        assert len([r for r in emulator.requests if r.path.endswith("/auth/tokens")]) == 2
