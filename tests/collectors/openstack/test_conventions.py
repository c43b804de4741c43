"""OpenStack conventions: OS_CLOUD, the OS_* variables (cloud: envvars), and inline auth of
type password, v3applicationcredential and token, each against the emulator's Keystone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from collectors.errors import AuthenticationFailed, OptionError
from collectors.openstack.collector import OpenStackCollector
from collectors.openstack.emulator import OpenStackEmulator, demo
from tests.collectors.openstack.conftest import run

OS_VARS = ("OS_CLOUD", "OS_AUTH_URL", "OS_USERNAME", "OS_PASSWORD", "OS_PROJECT_NAME", "OS_USER_DOMAIN_NAME",
           "OS_PROJECT_DOMAIN_NAME", "OS_REGION_NAME", "OS_INTERFACE", "OS_IDENTITY_API_VERSION",
           "OS_CLIENT_CONFIG_FILE", "OS_AUTH_TYPE", "OS_TOKEN")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No OS_* variable of the machine leaks into these tests."""
    for name in OS_VARS:
        monkeypatch.delenv(name, raising=False)


def lists(options: dict[str, Any]) -> int:
    """How many flavors a collector with ``options`` lists (the listing must be complete)."""
    with OpenStackCollector("os1", options) as collector:
        collector.connect()
        listing, items = run(collector, "compute.flavor")
    assert listing.complete, listing.error
    return len(items)


def auth_methods(emulator: OpenStackEmulator) -> list[str]:
    return [r.auth_methods[0] for r in emulator.requests if r.method == "POST" and r.path.endswith("/auth/tokens")]


def inline(emulator: OpenStackEmulator, **auth: Any) -> dict[str, Any]:
    return {"auth": {"auth_url": emulator.auth_url, **auth}}


class TestEnvironment:
    def test_os_cloud_names_the_cloud_when_options_name_none(self, emulator: OpenStackEmulator, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
        """A source with neither cloud nor auth takes the clouds.yaml entry OS_CLOUD names."""
        path = tmp_path / "clouds.yaml"
        path.write_text(yaml.safe_dump(emulator.clouds_yaml("lab")))
        monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(path))
        monkeypatch.setenv("OS_CLOUD", "lab")
        assert lists({}) == 3

    def test_envvars_takes_the_openrc_variables(self, emulator: OpenStackEmulator,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
        """cloud: envvars authenticates with the OS_* variables an openrc file exports."""
        for name, value in emulator.openrc().items():
            monkeypatch.setenv(name, value)
        assert lists({"cloud": "envvars"}) == 3

    def test_envvars_without_variables_names_what_is_missing(self) -> None:
        """cloud: envvars with no OS_AUTH_URL is an option error naming the variable."""
        with pytest.raises(OptionError, match=r"options\.cloud: is envvars but OS_AUTH_URL is not set"):
            OpenStackCollector("os1", {"cloud": "envvars"})

    def test_neither_cloud_auth_nor_os_cloud(self) -> None:
        """Without cloud, auth or OS_CLOUD the error says all three ways."""
        with pytest.raises(OptionError, match="or set OS_CLOUD"):
            OpenStackCollector("os1", {})


class TestAuthTypes:
    def test_password_is_the_default(self, emulator: OpenStackEmulator) -> None:
        """Inline auth without auth_type logs in with the password method."""
        assert lists(emulator.source_options()) == 3
        assert auth_methods(emulator) == ["password"]

    def test_application_credential_by_id(self, emulator: OpenStackEmulator) -> None:
        """v3applicationcredential with an id and secret logs in with the application_credential method."""
        cred = emulator.add_application_credential("poller", "s3cret-app")
        options = inline(emulator, auth_type="v3applicationcredential", application_credential_id=cred,
                         application_credential_secret="s3cret-app")
        assert lists(options) == 3
        assert auth_methods(emulator) == ["application_credential"]

    def test_application_credential_by_name_and_user(self, emulator: OpenStackEmulator) -> None:
        """v3applicationcredential with a name, secret and the owner's name (Default domain) logs in."""
        emulator.add_application_credential("poller", "s3cret-app")
        options = inline(emulator, auth_type="v3applicationcredential", application_credential_name="poller",
                         application_credential_secret="s3cret-app", username=demo.ADMIN_USER)
        assert lists(options) == 3

    def test_B11_wrong_application_credential_secret(self, emulator: OpenStackEmulator) -> None:
        """B11: a wrong secret fails once, naming the credential and never the secret."""
        cred = emulator.add_application_credential("poller", "s3cret-app")
        options = inline(emulator, auth_type="v3applicationcredential", application_credential_id=cred,
                         application_credential_secret="not-the-secret")
        with OpenStackCollector("os1", options) as collector, pytest.raises(AuthenticationFailed) as failed:
            collector.connect()
        assert f"application credential {cred}" in str(failed.value)
        assert "not-the-secret" not in str(failed.value)
        assert len(auth_methods(emulator)) == 1

    def test_token(self, emulator: OpenStackEmulator) -> None:
        """auth_type token with a valid token and a project scope lists."""
        admin = emulator.cloud.find("identity.user", name=demo.ADMIN_USER)
        assert admin is not None
        token, _ = emulator.server.issue_token(admin["id"], "")
        options = inline(emulator, auth_type="token", token=token, project_name=demo.ADMIN_PROJECT)
        assert lists(options) == 3
        assert auth_methods(emulator) == ["token"]

    @pytest.mark.parametrize(("auth", "message"), [
        ({"auth_type": "kerberos"}, "auth.auth_type: must be one of password, v3applicationcredential, token"),
        ({"auth_type": "v3applicationcredential", "application_credential_id": "x"},
         "auth.application_credential_secret: is required"),
        ({"auth_type": "v3applicationcredential", "application_credential_name": "x",
          "application_credential_secret": "y"}, "auth.username: is required"),
        ({"auth_type": "v3applicationcredential", "application_credential_id": "x",
          "application_credential_secret": "y", "project_name": "p"}, "auth.project_name: unknown key"),
        ({"auth_type": "token"}, "auth.token: is required"),
    ])
    def test_option_errors_name_the_field(self, auth: dict[str, Any], message: str) -> None:
        """Each auth type's missing or foreign keys are option errors naming sources.<name>.options.auth.<key>."""
        with pytest.raises(OptionError, match=message.replace(".", r"\.")):
            OpenStackCollector("os1", {"auth": {"auth_url": "http://127.0.0.1:1/identity", **auth}})
