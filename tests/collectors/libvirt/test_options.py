"""Option validation of the libvirt collector: clear errors naming the field, no I/O, no secret echoed."""

from __future__ import annotations

from typing import Any

import pytest

from collectors.errors import OptionError
from collectors.libvirt import LibvirtCollector


def option_error(options: dict[str, Any]) -> OptionError:
    with pytest.raises(OptionError) as caught:
        LibvirtCollector("lv1", options)
    return caught.value


class TestOptions:
    def test_defaults(self) -> None:
        """readonly defaults to true and live_xml to false."""
        collector = LibvirtCollector("lv1", {"uri": "qemu:///system"})
        assert collector.readonly is True and collector.live_xml is False
        assert collector.warnings() == []

    def test_uri_required(self) -> None:
        """A missing uri names sources.<name>.options.uri."""
        assert str(option_error({})) == "sources.lv1.options.uri: is required"

    def test_uri_must_look_like_a_libvirt_uri(self) -> None:
        """A uri without a scheme is refused before any connection."""
        assert option_error({"uri": "/var/run/libvirt"}).field == "uri"

    def test_unknown_option(self) -> None:
        """An unknown option is named."""
        assert option_error({"uri": "qemu:///system", "url": "x"}).field == "url"

    def test_unknown_auth_key_without_echoing_values(self) -> None:
        """An unknown key under auth is named as auth.<key>; no value is echoed."""
        error = option_error({"uri": "qemu:///system", "auth": {"username": "u", "passwd": "hunter2"}})
        assert error.field == "auth.passwd"
        assert "hunter2" not in str(error)

    def test_password_must_be_a_string(self) -> None:
        """A password that is not a string is refused, naming the field."""
        assert option_error({"uri": "qemu:///system", "auth": {"password": 12345}}).field == "auth.password"

    @pytest.mark.parametrize("timeout", [0, -1, "10x", "2h", float("inf"), float("nan"), 86400])
    def test_timeout_positive_number(self, timeout: Any) -> None:
        """timeout must be a duration (the shared syntax) above zero, at most an hour."""
        assert option_error({"uri": "qemu:///system", "timeout": timeout}).field == "timeout"

    @pytest.mark.parametrize("field", ["readonly", "live_xml"])
    def test_flags_are_booleans(self, field: str) -> None:
        """readonly and live_xml must be true or false."""
        assert option_error({"uri": "qemu:///system", field: "yes"}).field == field

    def test_read_write_warns(self) -> None:
        """readonly: false gives a warning on every run (the collector only reads)."""
        collector = LibvirtCollector("lv1", {"uri": "qemu:///system", "readonly": False})
        assert collector.warnings() and "read-write" in collector.warnings()[0]

    def test_constructor_does_no_io(self) -> None:
        """Constructing against an unreachable host does no I/O and raises nothing."""
        LibvirtCollector("lv1", {"uri": "qemu+tcp://127.0.0.1:1/system", "timeout": 0.1})
