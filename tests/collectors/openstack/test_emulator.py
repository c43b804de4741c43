"""The OpenStack emulator on its own: openstacksdk talks to it unmodified, and its paging,
microversions, changes-since, tokens and faults behave like the real services."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import openstack
import openstack.connection
import pytest
import requests

from collectors.openstack.emulator import OpenStackEmulator
from tests.collectors.openstack.conftest import Clock


@pytest.fixture
def conn(emulator: OpenStackEmulator) -> Iterator[openstack.connection.Connection]:
    auth = emulator.source_options()["auth"]
    connection = openstack.connect(load_yaml_config=False, load_envvars=False,
                                   **{k: v for k, v in auth.items() if k != "interface"})
    yield connection
    connection.close()


SDK_LISTINGS: dict[str, tuple[Callable[[Any], Any], int]] = {
    "servers": (lambda c: c.compute.servers(all_projects=True), 4),
    "flavors": (lambda c: c.compute.flavors(), 3),
    "hypervisors": (lambda c: c.compute.hypervisors(details=True), 3),
    "services": (lambda c: c.compute.services(), 5),
    "aggregates": (lambda c: c.compute.aggregates(), 1),
    "keypairs": (lambda c: c.compute.keypairs(), 1),
    "images": (lambda c: c.image.images(), 3),
    "networks": (lambda c: c.network.networks(), 3),
    "subnets": (lambda c: c.network.subnets(), 3),
    "ports": (lambda c: c.network.ports(), 6),
    "routers": (lambda c: c.network.routers(), 2),
    "floating_ips": (lambda c: c.network.ips(), 0),
    "security_groups": (lambda c: c.network.security_groups(), 4),
    "volumes": (lambda c: c.block_storage.volumes(all_projects=True), 2),
    "snapshots": (lambda c: c.block_storage.snapshots(all_projects=True), 1),
    "resource_providers": (lambda c: c.placement.resource_providers(), 4),
    "stacks": (lambda c: c.orchestration.stacks(), 1),  # openstacksdk lists the token's project only
    "domains": (lambda c: c.identity.domains(), 2),
    "projects": (lambda c: c.identity.projects(), 3),
    "users": (lambda c: c.identity.users(), 3),
}


class TestOpenStackSdk:
    """openstacksdk's own proxies work against the emulator without any patching."""

    @pytest.mark.parametrize("name", sorted(SDK_LISTINGS))
    def test_sdk_lists(self, conn: openstack.connection.Connection, name: str) -> None:
        """Each resource lists through openstacksdk with the seeded count."""
        listing, count = SDK_LISTINGS[name]
        assert len(list(listing(conn))) == count

    def test_sdk_follows_paging(self, emulator: OpenStackEmulator, conn: openstack.connection.Connection) -> None:
        """openstacksdk follows Nova's servers_links page by page."""
        assert len(list(conn.compute.servers(all_projects=True, limit=1))) == 4
        pages = [r for r in emulator.requests if r.path.endswith("/servers/detail")]
        assert len(pages) == 5 and "marker=" in pages[-1].query

    def test_sdk_changes_since_sees_deleted(self, emulator: OpenStackEmulator, clock: Clock,
                                            conn: openstack.connection.Connection) -> None:
        """A deleted server shows up in a changes-since listing with status DELETED, and only there."""
        clock.advance(60)
        since = clock().strftime("%Y-%m-%dT%H:%M:%SZ")
        victim = emulator.seeded.servers[0]["id"]
        emulator.cloud.delete("compute.server", victim)
        changed = list(conn.compute.servers(all_projects=True, changes_since=since))
        assert [(s.id, s.status) for s in changed] == [(victim, "DELETED")]
        assert victim not in {s.id for s in conn.compute.servers(all_projects=True)}


class TestHttp:
    """Raw HTTP behaviour: tokens, microversions, paging links, faults."""

    def _token(self, emulator: OpenStackEmulator, password: str | None = None) -> requests.Response:
        auth = emulator.source_options()["auth"]
        body: dict[str, Any] = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": auth["username"], "domain": {"name": "Default"}, "password": password or auth["password"]}}},
            "scope": {"project": {"name": auth["project_name"], "domain": {"name": "Default"}}}}}
        return requests.post(emulator.auth_url + "/v3/auth/tokens", json=body, timeout=10)

    def _get(self, emulator: OpenStackEmulator, path: str, **headers: str) -> requests.Response:
        token = self._token(emulator).headers["X-Subject-Token"]
        return requests.get(emulator.base_url + path, headers={"X-Auth-Token": token, **headers}, timeout=10)

    def test_password_auth_and_catalog(self, emulator: OpenStackEmulator) -> None:
        """A good password gets a token and a catalog of the seven services."""
        response = self._token(emulator)
        assert response.status_code == 201 and response.headers["X-Subject-Token"]
        types = {e["type"] for e in response.json()["token"]["catalog"]}
        assert types == {"identity", "compute", "network", "image", "block-storage", "placement", "orchestration"}

    def test_wrong_password(self, emulator: OpenStackEmulator) -> None:
        """A wrong password is a 401."""
        assert self._token(emulator, "nope").status_code == 401

    def test_hidden_service_left_out(self, emulator: OpenStackEmulator) -> None:
        """A hidden service is not in the catalog of new tokens."""
        emulator.hide_service("placement")
        types = {e["type"] for e in self._token(emulator).json()["token"]["catalog"]}
        assert "placement" not in types and "compute" in types

    def test_no_token(self, emulator: OpenStackEmulator) -> None:
        """A request without a token is a 401."""
        assert requests.get(emulator.base_url + "/compute/v2.1/flavors", timeout=10).status_code == 401

    def test_expired_token(self, emulator: OpenStackEmulator, clock: Clock) -> None:
        """A token past its expiry is refused."""
        token = self._token(emulator).headers["X-Subject-Token"]
        clock.advance(timedelta(hours=2).total_seconds())
        response = requests.get(emulator.base_url + "/compute/v2.1/flavors", headers={"X-Auth-Token": token},
                                timeout=10)
        assert response.status_code == 401

    def test_microversion_shapes(self, emulator: OpenStackEmulator) -> None:
        """The server's flavor is a reference below 2.47 and embedded from 2.47; the answer names the version."""
        old = self._get(emulator, "/compute/v2.1/servers/detail?all_tenants=1", **{"OpenStack-API-Version": "compute 2.1"})
        new = self._get(emulator, "/compute/v2.1/servers/detail?all_tenants=1",
                        **{"OpenStack-API-Version": "compute 2.47"})
        assert "links" in old.json()["servers"][0]["flavor"]
        assert "original_name" in new.json()["servers"][0]["flavor"]
        assert new.headers["OpenStack-API-Version"] == "compute 2.47"

    def test_microversion_too_high(self, emulator: OpenStackEmulator) -> None:
        """A microversion above the maximum is a 406."""
        response = self._get(emulator, "/compute/v2.1/flavors", **{"OpenStack-API-Version": "compute 2.200"})
        assert response.status_code == 406

    def test_hypervisor_usage_gone_at_2_88(self, emulator: OpenStackEmulator) -> None:
        """From 2.88 Nova no longer returns hypervisor usage, as the real API."""
        body = self._get(emulator, "/compute/v2.1/os-hypervisors/detail",
                         **{"OpenStack-API-Version": "compute 2.88"}).json()
        assert "vcpus_used" not in body["hypervisors"][0]

    @pytest.mark.parametrize(("path", "links_key"), [
        ("/compute/v2.1/servers/detail?all_tenants=1&limit=2", "servers_links"),
        ("/network/v2.0/ports?limit=2", "ports_links"),
        ("/image/v2/images?limit=2", "next"),
    ])
    def test_next_links(self, emulator: OpenStackEmulator, path: str, links_key: str) -> None:
        """Each service answers a partial page with its own style of next link carrying a marker."""
        body = self._get(emulator, path).json()
        link = body[links_key] if links_key == "next" else [x["href"] for x in body[links_key] if x["rel"] == "next"][0]
        assert "marker=" in link

    def test_unknown_marker(self, emulator: OpenStackEmulator) -> None:
        """A marker that does not exist is refused (400 for Nova)."""
        assert self._get(emulator, "/compute/v2.1/servers/detail?marker=nope").status_code == 400

    def test_fault_skip_and_times(self, emulator: OpenStackEmulator) -> None:
        """A fault lets ``skip`` requests through, then hits ``times`` of them."""
        emulator.inject(r"/flavors", 503, skip=1, times=1)
        statuses = [self._get(emulator, "/compute/v2.1/flavors").status_code for _ in range(3)]
        assert statuses == [200, 503, 200]


class TestDemo:
    """The demo API the lead's ``poller demo`` uses."""

    def test_demo_changes(self, emulator: OpenStackEmulator) -> None:
        """apply_demo_changes boots, resizes, deletes and renames one server each."""
        before = {s["id"] for s in emulator.cloud.all("compute.server")}
        changed = emulator.apply_demo_changes()
        after = {s["id"]: s for s in emulator.cloud.all("compute.server")}
        assert changed["booted"] in after and changed["booted"] not in before
        assert changed["deleted"] in before and changed["deleted"] not in after
        assert after[changed["renamed"]]["name"] == "batch-worker-3"
        assert after[changed["resized"]]["_flavor"]["original_name"] == "m1.large"

    def test_source_options_shape(self, emulator: OpenStackEmulator) -> None:
        """source_options gives an inline auth mapping pointing at the emulator."""
        options = emulator.source_options(page_size=50)
        assert options["auth"]["auth_url"] == emulator.auth_url and options["page_size"] == 50
