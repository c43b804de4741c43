"""Against a real Nagios Core 4 and Apache on 127.0.0.1 (collectors.nagios.lab), through the real CLI.

Each test starts its own Nagios (own config, status, retention, command file, lock) and
its own Apache serving the JSON CGIs with basic auth; checks are forced through the
external command file and their result is set by a file the test writes.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collectors.base import ListContext
from collectors.nagios import types as t
from collectors.nagios.collector import NagiosCollector
from collectors.nagios.lab import NagiosLab
from tests.collectors.nagios.conftest import (
    HOSTS,
    SERVICES,
    all_checked,
    cgi,
    host_state,
    service_state,
    snapshot,
    summary,
    wait_until,
    write_config,
)

# Each test starts a Nagios and an Apache and runs the CLI several times (10-30 s each here).
pytestmark = pytest.mark.slow


def keys(notes: list[dict]) -> list[tuple[str, str, str]]:
    return sorted((n["action"], n["entity_type"], n["key"]) for n in notes)


def changed_paths(note: dict) -> set[str]:
    return {c["path"] for c in note["changes"] or ()}


def first_load(lab: NagiosLab, tmp_path: Path) -> Path:
    config = write_config(tmp_path / "poller.yaml", lab.url)
    code, notes, stderr = snapshot(config, lab.password)
    assert code == 3 and len(notes) == len(HOSTS) + len(SERVICES), stderr
    return config


def test_first_snapshot_has_hosts_with_parents_and_services(lab: NagiosLab, tmp_path: Path) -> None:
    """The first poll creates every host (parent: its Nagios parent host) and service (parent: its host)."""
    config = write_config(tmp_path / "poller.yaml", lab.url)
    code, notes, stderr = snapshot(config, lab.password)
    assert code == 3, stderr
    by_key = {(n["entity_type"], n["key"]): n for n in notes}
    assert set(by_key) == {("nagios.host", "gw"), ("nagios.host", "web1"), ("nagios.host", "db1"),
                           ("nagios.service", "web1/http"), ("nagios.service", "db1/pgsql"),
                           ("nagios.service", "db1/disk /var")}
    assert by_key[("nagios.host", "gw")]["parent"] is None
    assert by_key[("nagios.host", "db1")]["parent"] == {"type": "nagios.host", "key": "gw"}
    assert by_key[("nagios.host", "db1")]["entity"]["address"] == "127.0.0.2"
    assert by_key[("nagios.service", "db1/disk /var")]["parent"] == {"type": "nagios.host", "key": "db1"}
    assert {n["state"] for n in notes} == {"UP", "OK"}
    assert "mon: ok, 6 listed, 6 created" in stderr


def test_F29_idle_nagios_repolled_is_silent_while_it_keeps_checking(lab: NagiosLab, tmp_path: Path) -> None:
    """F29: Nagios re-runs every check (new check times, latency, perf data) and two re-polls emit nothing."""
    config = first_load(lab, tmp_path)
    for _ in range(2):
        before = cgi(lab, "service", hostname="db1", servicedescription="pgsql")["service"]["last_check"]
        wait_until(lambda b=before: cgi(lab, "service", hostname="db1", servicedescription="pgsql")
                   ["service"]["last_check"] > b, "Nagios to check db1/pgsql again")
        code, notes, stderr = snapshot(config, lab.password)
        assert (code, notes) == (0, []), stderr


def test_service_state_changes_arrive_as_one_update_each(lab: NagiosLab, tmp_path: Path) -> None:
    """OK -> CRITICAL -> WARNING -> OK: each change is exactly one update of that service, with its old state."""
    config = first_load(lab, tmp_path)
    previous = "OK"
    for state in ("CRITICAL", "WARNING", "OK"):
        service_state(lab, "db1", "pgsql", state)
        code, notes, stderr = snapshot(config, lab.password)
        assert code == 3, stderr
        assert keys(notes) == [("update", "nagios.service", "db1/pgsql")]
        assert notes[0]["state"] == state and notes[0]["previous"]["state"] == previous
        assert notes[0]["entity"]["hard_state"] == state
        assert changed_paths(notes[0]) == {"/hard_state"}
        previous = state


def test_host_down_and_up_are_updates(lab: NagiosLab, tmp_path: Path) -> None:
    """A host going DOWN, then UP again, is one update each; its services and other hosts stay silent."""
    config = first_load(lab, tmp_path)
    for state in ("DOWN", "UP"):
        host_state(lab, "web1", state)
        code, notes, stderr = snapshot(config, lab.password)
        assert keys(notes) == [("update", "nagios.host", "web1")], stderr
        assert notes[0]["state"] == state and changed_paths(notes[0]) == {"/hard_state"}


def test_acknowledgement_and_downtime_are_updates(lab: NagiosLab, tmp_path: Path) -> None:
    """Acknowledging a CRITICAL service, then scheduling downtime on it, are one update each with those fields."""
    config = first_load(lab, tmp_path)
    service_state(lab, "web1", "http", "CRITICAL")
    assert keys(snapshot(config, lab.password)[1]) == [("update", "nagios.service", "web1/http")]
    lab.command("ACKNOWLEDGE_SVC_PROBLEM;web1;http;2;0;0;ops;looking")
    wait_until(lambda: cgi(lab, "service", hostname="web1", servicedescription="http")["service"]
               ["problem_has_been_acknowledged"], "the acknowledgement")
    code, notes, stderr = snapshot(config, lab.password)
    assert keys(notes) == [("update", "nagios.service", "web1/http")], stderr
    assert {"/acknowledged", "/acknowledgement_type"} <= changed_paths(notes[0])
    now = int(time.time())
    lab.command(f"SCHEDULE_SVC_DOWNTIME;web1;http;{now - 5};{now + 3600};1;0;3600;ops;maintenance")
    wait_until(lambda: cgi(lab, "service", hostname="web1", servicedescription="http")["service"]
               ["scheduled_downtime_depth"] > 0, "the downtime to start")
    code, notes, stderr = snapshot(config, lab.password)
    assert keys(notes) == [("update", "nagios.service", "web1/http")], stderr
    assert changed_paths(notes[0]) == {"/in_downtime"}


def test_service_removed_from_the_configuration_is_deleted(lab: NagiosLab, tmp_path: Path) -> None:
    """After Nagios reloads without db1/disk /var, the next complete listing deletes exactly that service."""
    config = first_load(lab, tmp_path)
    lab.reload(HOSTS, [s for s in SERVICES if s.description != "disk /var"])
    wait_until(lambda: "disk /var" not in cgi(lab, "servicelist")["servicelist"].get("db1", {}),
               "Nagios to reload without the service")
    wait_until(lambda: all(s["has_been_checked"] for by in cgi(lab, "servicelist", details="true")
                           ["servicelist"].values() for s in by.values()), "checks after the reload")
    code, notes, stderr = snapshot(config, lab.password)
    assert keys(notes) == [("delete", "nagios.service", "db1/disk /var")], stderr


def test_F04_F02_source_wide_failures_are_one_line_each_and_delete_nothing(lab: NagiosLab, tmp_path: Path) -> None:
    """F04, F02: a wrong password (401), Apache stopped, CGIs answering an HTML page, Nagios stopped: each fails once.

    Each gives exit 1, no notification, one summary line saying why (no password, no
    traceback); once fixed, the next poll finds the baseline intact (nothing was deleted).
    """
    config = first_load(lab, tmp_path)

    def fails_with(expected: str, password: str = lab.password) -> None:
        code, notes, stderr = snapshot(config, password)
        line = summary(stderr)
        assert (code, notes) == (1, []), stderr
        assert line.startswith("mon: failed, 0 listed, 0 created, 0 updated, 0 deleted") and expected in line, stderr
        assert "canary" not in stderr and "Traceback" not in stderr and lab.password not in stderr

    fails_with("rejected the credentials (HTTP 401)", password="wrong-PASSWORD-canary")
    lab.stop_apache()
    fails_with("cannot connect")
    lab.start_apache()
    write_config(config, lab.html_url)
    fails_with("the answer is text/html, not JSON")
    write_config(config, lab.url)
    lab.stop_nagios()
    fails_with("an empty answer; is Nagios running?")
    lab.start_nagios()
    wait_until(lambda: all_checked(lab), "Nagios to check everything again after its restart")
    code, notes, stderr = snapshot(config, lab.password)
    assert (code, notes) == (0, []), stderr


def test_fetch_reads_one_host_or_service_and_none_when_gone(lab: NagiosLab) -> None:
    """fetch answers the current host/service (statusjson query=host/service) and None for unknown names."""
    service_state(lab, "db1", "disk /var", "WARNING")
    with NagiosCollector("mon", {"url": lab.url, "username": lab.username, "password": lab.password}) as c:
        service = c.fetch(t.SERVICE, "db1/disk /var")
        host = c.fetch(t.HOST, "web1")
        assert service is not None and service.state == "WARNING" and service.parent.key == "db1"
        assert host is not None and host.state == "UP" and host.attributes["parents"] == ["gw"]
        assert c.fetch(t.HOST, "nope") is None
        assert c.fetch(t.SERVICE, "db1/nope") is None and c.fetch(t.SERVICE, "nope/x") is None
        assert c.fetch(t.SERVICE, "no-slash") is None
        listed = {e.key for e in c.list(t.SERVICE, ListContext(now=datetime.now(UTC)))}
        assert listed == {"web1/http", "db1/pgsql", "db1/disk /var"}
