"""Validation of the openstack source's options: each error names its field, never a password."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from collectors.errors import OptionError
from collectors.openstack.collector import OpenStackCollector
from collectors.openstack.options import parse_options

AUTH = {"auth_url": "http://127.0.0.1:5000/identity", "username": "admin", "password": "canary-pw-123",
        "project_name": "admin"}


def _options(**extra: Any) -> dict[str, Any]:
    return {"auth": dict(AUTH), **extra}


def _error(options: dict[str, Any]) -> OptionError:
    with pytest.raises(OptionError) as info:
        parse_options("prod", options)
    return info.value


class TestOptions:
    """parse_options accepts Ralph-style inline auth or a clouds.yaml name, and nothing else."""

    def test_inline_auth_defaults(self) -> None:
        """Inline auth gets Default domains and keeps the password only in the auth mapping."""
        parsed = parse_options("prod", _options())
        assert parsed.auth["user_domain_name"] == parsed.auth["project_domain_name"] == "Default"
        assert parsed.full_every == 10 and parsed.changes_since_margin == timedelta(minutes=5)

    def test_tenant_name_alias(self) -> None:
        """tenant_name is taken as project_name."""
        auth = {k: v for k, v in AUTH.items() if k != "project_name"} | {"tenant_name": "ops"}
        assert parse_options("prod", {"auth": auth}).auth["project_name"] == "ops"

    def test_ralph_version_ignored_with_note(self) -> None:
        """A Ralph-style version key is accepted and produces a note."""
        parsed = parse_options("prod", {"auth": {**AUTH, "version": "3.0"}})
        assert parsed.notes and "auth.version is ignored" in parsed.notes[0]

    def test_connection_keys_inside_auth(self) -> None:
        """region_name, interface, verify and cacert may sit inside auth, Ralph style."""
        parsed = parse_options("prod", {"auth": {**AUTH, "region_name": "RegionTwo", "interface": "internal",
                                                 "verify": False, "cacert": "/etc/ca.pem"}})
        assert (parsed.region_name, parsed.interface, parsed.verify, parsed.cacert) == \
            ("RegionTwo", "internal", False, "/etc/ca.pem")

    def test_cloud_name(self) -> None:
        """A clouds.yaml name alone is valid."""
        assert parse_options("prod", {"cloud": "mycloud"}).cloud == "mycloud"

    @pytest.mark.parametrize(("options", "field"), [
        ({}, "cloud"),
        ({"cloud": "x", "auth": AUTH}, "cloud"),
        ({"auth": {**AUTH, "password": ""}}, "auth.password"),
        ({"auth": {k: v for k, v in AUTH.items() if k != "auth_url"}}, "auth.auth_url"),
        ({"auth": {k: v for k, v in AUTH.items() if k != "project_name"}}, "auth.project_name"),
        ({"auth": {**AUTH, "pasword": "typo"}}, "auth.pasword"),
        (_options(interface="external"), "interface"),
        (_options(full_every=0), "full_every"),
        (_options(full_every="soon"), "full_every"),
        (_options(page_size=0), "page_size"),
        (_options(timeout=-1), "timeout"),
        (_options(changes_since_margin="a while"), "changes_since_margin"),
        (_options(colud="x"), "colud"),
    ])
    def test_bad_field_named(self, options: dict[str, Any], field: str) -> None:
        """Each bad option fails naming sources.<name>.options.<field>, without the password."""
        error = _error(options)
        assert str(error).startswith(f"sources.prod.options.{field}:")
        assert "canary-pw-123" not in str(error)

    def test_full_every_duration(self) -> None:
        """full_every takes a duration as well as a run count."""
        assert parse_options("prod", _options(full_every="6h")).full_every == timedelta(hours=6)

    def test_unknown_cloud(self, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        """A cloud name missing from clouds.yaml fails at construction, naming the option."""
        path = tmp_path / "clouds.yaml"
        path.write_text("clouds: {}\n")
        monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(path))
        with pytest.raises(OptionError) as info:
            OpenStackCollector("prod", {"cloud": "nowhere"})
        assert "sources.prod.options.cloud" in str(info.value)

    def test_constructor_does_no_network_io(self) -> None:
        """Building the collector for an unreachable cloud succeeds: connecting waits for a listing."""
        collector = OpenStackCollector("prod", {"auth": {**AUTH, "auth_url": "http://127.0.0.1:9/identity"}})
        assert collector.warnings() == []
        collector.close()

    def test_verify_off_warns(self) -> None:
        """verify: false is reported by warnings() on every run."""
        collector = OpenStackCollector("prod", _options(verify=False))
        assert any("verification is off" in w for w in collector.warnings())
