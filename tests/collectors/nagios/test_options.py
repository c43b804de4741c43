"""NagiosCollector options: validated in the constructor, errors name sources.<name>.options.<field>."""

from __future__ import annotations

from typing import Any

import pytest

from collectors.errors import OptionError
from collectors.nagios.collector import NagiosCollector

URL = "https://nagios.example.org/cgi-bin/nagios4"


def make(**options: Any) -> NagiosCollector:
    return NagiosCollector("mon", {"url": URL, "username": "u", "password": "p", **options})


@pytest.mark.parametrize(("options", "field", "problem"), [
    ({"url": None}, "url", "is required"),
    ({"url": "ftp://x/"}, "url", "http:// or https://"),
    ({"url": "https://u:p@nagios/cgi-bin/nagios4"}, "url", "must not hold credentials"),
    ({"url": URL + "/statusjson.cgi"}, "url", "must be the CGI directory"),
    ({"password": None}, "password", "is required when"),
    ({"timeout": 0}, "timeout", "greater than 0"),
    ({"timeout": "5x"}, "timeout", "must be a duration like"),
    ({"verify": "/no/such/ca.pem"}, "verify", "CA bundle file not found"),
    ({"colour": "blue"}, "colour", "unknown option"),
])
def test_bad_options_name_the_field(options: dict[str, Any], field: str, problem: str) -> None:
    """Each invalid option raises OptionError naming sources.mon.options.<field>."""
    with pytest.raises(OptionError) as caught:
        make(**options)
    assert str(caught.value).startswith(f"sources.mon.options.{field}: ") and problem in str(caught.value)


def test_valid_options_do_no_network_io() -> None:
    """A valid configuration constructs without contacting anything (the host does not exist)."""
    collector = make(verify="false", timeout=2.5)
    assert collector.verify is False and collector.warnings()


def test_no_credentials_is_allowed() -> None:
    """Without username and password the CGIs are called without basic auth (a server doing its own auth)."""
    assert NagiosCollector("mon", {"url": URL}).warnings() == []
