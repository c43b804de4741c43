"""The ``coordination:`` section: defaults, validation, and what is derived from it (no backend needed)."""

from __future__ import annotations

import pytest

from poller.config import Config, parse_config
from poller.errors import ConfigError
from poller.service.cluster import backend_label, default_member_id, driver_options
from tests.conftest import IN_CI

if not IN_CI:
    pytest.importorskip("tooz")


def parse(text: str) -> Config:
    """The config parsed from ``text``."""
    return parse_config(text, "p.yaml", {})


class TestSection:
    """Parsing and validating coordination:."""

    def test_absent_section_means_a_single_node(self) -> None:
        """Without coordination: the config carries None (the node behaves as before)."""
        assert parse("sources: []\n").coordination is None

    def test_defaults(self) -> None:
        """Only backend_url given: group cloud-poller, 2 s heartbeat, 10 s membership timeout, grace as long."""
        c = parse("coordination: {backend_url: 'etcd3+http://127.0.0.1:2379'}\n").coordination
        assert (c.group, c.heartbeat, c.member_id, c.timeout, c.grace_s) == ("cloud-poller", 2.0, None, 10.0, 10.0)

    def test_explicit_values(self) -> None:
        """Durations take units; member_id and group are kept as written."""
        c = parse("coordination: {backend_url: 'redis://h:6379', group: g1, heartbeat: 0.5, member_id: 'a:1',"
                  " membership_timeout: 4s, grace: 1m}\n").coordination
        assert (c.group, c.heartbeat, c.member_id, c.timeout, c.grace_s) == ("g1", 0.5, "a:1", 4.0, 60.0)

    def test_unknown_scheme_is_one_line_naming_the_key(self) -> None:
        """An unknown URL scheme is refused with the key and the schemes tooz offers."""
        with pytest.raises(ConfigError) as caught:
            parse("coordination: {backend_url: 'etcd://127.0.0.1:2379'}\n")
        message = str(caught.value)
        assert "coordination.backend_url" in message and "'etcd'" in message and "etcd3+http" in message
        assert "\n" not in message

    def test_backend_url_is_required(self) -> None:
        """A section without backend_url says what a URL looks like."""
        with pytest.raises(ConfigError, match="coordination.backend_url: is required"):
            parse("coordination: {group: g}\n")

    def test_unknown_key(self) -> None:
        """A misspelt key is refused with the allowed ones."""
        with pytest.raises(ConfigError, match="coordination.heartbeats: unknown key"):
            parse("coordination: {backend_url: 'redis://h', heartbeats: 2}\n")

    def test_membership_timeout_at_least_two_heartbeats(self) -> None:
        """A membership timeout shorter than two heartbeats would drop live members: refused."""
        with pytest.raises(ConfigError, match="membership_timeout: must be at least two heartbeats"):
            parse("coordination: {backend_url: 'redis://h', heartbeat: 2, membership_timeout: 3}\n")

    def test_zero_heartbeat_refused(self) -> None:
        """A zero heartbeat is refused."""
        with pytest.raises(ConfigError, match="heartbeat: must be greater than zero"):
            parse("coordination: {backend_url: 'redis://h', heartbeat: 0}\n")


class TestDerived:
    """What the cluster module derives from the section."""

    def test_driver_options_are_whole_seconds(self) -> None:
        """Timeouts handed to tooz are integers (its etcd3gw driver parses them with int())."""
        c = parse("coordination: {backend_url: 'redis://h', heartbeat: 0.3, membership_timeout: 2.5}\n").coordination
        assert driver_options(c) == {"membership_timeout": 3, "lock_timeout": 3, "timeout": 1}

    def test_backend_label_drops_credentials(self) -> None:
        """The logged form of a URL keeps scheme, host and port, never a password or options."""
        assert backend_label("redis://:s3cret@db.example:6380/0?socket_timeout=3") == "redis://db.example:6380"

    def test_default_member_id_is_host_and_pid(self) -> None:
        """The default member id is host:pid."""
        import os
        import socket

        assert default_member_id() == f"{socket.gethostname()}:{os.getpid()}"
