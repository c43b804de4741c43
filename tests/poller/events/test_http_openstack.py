"""The HTTP intake against the OpenStack emulator: events become verified refreshes, fast."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from collectors.openstack.emulator import OpenStackEmulator
from collectors.openstack.emulator import resources as r
from tests.poller.events.conftest import TOKEN, Env, oslo_v2

MakeEnv = Callable[..., Env]


def server_fetches(emu: OpenStackEmulator, server_id: str) -> int:
    """GETs of one server by id the emulator served."""
    return sum(1 for q in emu.requests if q.method == "GET" and q.path.endswith(f"/servers/{server_id}"))


class TestChangeNotifications:
    def test_update_event_yields_the_notification_within_a_second(self, make_env: MakeEnv,
                                                                   os_emulator: OpenStackEmulator) -> None:
        """A resized server's compute.instance.update event makes its update notification reach the sink in < 1 s."""
        env = make_env(os=os_emulator)
        server = os_emulator.seeded.servers[1]
        r.resize_server(os_emulator.cloud, server["id"], os_emulator.seeded.flavors[2])
        started = time.monotonic()
        reply = env.post_os(oslo_v2("compute.instance.update", {"instance_id": server["id"], "state": "active"}))
        notes = env.wait_notes(1, timeout=1.0)
        assert reply.status == 202 and reply.body["targets"] == 1
        assert time.monotonic() - started < 1.0
        assert [(n["action"], n["key"]) for n in notes] == [("update", server["id"])]
        assert any(c["path"].startswith("/flavor") for c in notes[0]["changes"])

    def test_v1_envelope_and_versioned_payload(self, make_env: MakeEnv, os_emulator: OpenStackEmulator) -> None:
        """A v1 message with a versioned (nova_object.data) payload is understood too."""
        env = make_env(os=os_emulator)
        server = os_emulator.seeded.servers[0]
        os_emulator.cloud.update("compute.server", server["id"], name="renamed-by-hand")
        event = {"event_type": "instance.update", "publisher_id": "nova-compute:host1", "priority": "INFO",
                 "payload": {"nova_object.name": "InstanceUpdatePayload", "nova_object.data": {"uuid": server["id"]}}}
        assert env.post_os(event).status == 202
        notes = env.wait_notes(1)
        assert [(n["action"], n["name"]) for n in notes] == [("update", "renamed-by-hand")]

    def test_created_port_yields_a_create(self, make_env: MakeEnv, os_emulator: OpenStackEmulator) -> None:
        """port.create.end for a new port yields one create notification."""
        env = make_env(os=os_emulator)
        s = os_emulator.seeded
        port = r.add_port(os_emulator.cloud, s.networks[1], s.subnets[1], "10.0.0.99", "compute:nova", "dev-1")
        assert env.post_os(oslo_v2("port.create.end", {"port": {"id": port["id"]}}, "network.ctl")).status == 202
        notes = env.wait_notes(1)
        assert [(n["action"], n["entity_type"], n["key"]) for n in notes] == [("create", "network.port", port["id"])]

    def test_deleted_entity_yields_one_delete(self, make_env: MakeEnv, os_emulator: OpenStackEmulator) -> None:
        """compute.instance.delete.end for a deleted server yields exactly one delete, even when repeated."""
        env = make_env(os=os_emulator, events={"debounce": "0.05s"})
        server = os_emulator.seeded.servers[3]
        os_emulator.cloud.delete("compute.server", server["id"])
        event = oslo_v2("compute.instance.delete.end", {"instance_id": server["id"]})
        for _ in range(3):
            assert env.post_os(event).status == 202
            time.sleep(0.1)
        assert env.service.processor.wait_idle(5)
        notes = env.wait_notes(1)
        assert [(n["action"], n["key"]) for n in notes] == [("delete", server["id"])]

    def test_a_lie_yields_nothing(self, make_env: MakeEnv, os_emulator: OpenStackEmulator) -> None:
        """An event saying a server was deleted while the API still has it changes nothing."""
        env = make_env(os=os_emulator)
        server = os_emulator.seeded.servers[0]
        assert env.post_os(oslo_v2("compute.instance.delete.end", {"instance_id": server["id"]})).status == 202
        assert env.service.processor.wait_idle(5)
        assert server_fetches(os_emulator, server["id"]) == 1
        assert env.notes() == [] and server["id"] in env.store.load_hashes("os1", "compute.server")

    def test_unchanged_entity_yields_nothing(self, make_env: MakeEnv, os_emulator: OpenStackEmulator) -> None:
        """An update event for a server that did not change is fetched and yields no notification."""
        env = make_env(os=os_emulator)
        server = os_emulator.seeded.servers[2]
        env.post_os(oslo_v2("compute.instance.update", {"instance_id": server["id"]}))
        assert env.service.processor.wait_idle(5)
        assert env.notes() == [] and env.service.stats.get("fetched", "os1") == 1


class TestBursts:
    @pytest.mark.slow
    def test_thousand_events_for_ten_entities_cost_few_fetches(self, make_env: MakeEnv,
                                                                os_emulator: OpenStackEmulator) -> None:
        """F30: 1,000 events for 10 servers, posted over ~2 s, cause at most 3 fetches per server."""
        ids = os_emulator.seed_servers(6) + [s["id"] for s in os_emulator.seeded.servers[:4]]
        env = make_env(os=os_emulator, events={"debounce": "2s"})
        os_emulator.reset_requests()
        bodies = [[oslo_v2("compute.instance.update", {"instance_id": ids[(i + j) % 10]}) for j in range(10)]
                  for i in range(100)]
        for body in bodies:
            assert env.post_os(body).status == 202
        assert env.service.processor.wait_idle(10)
        counts = [server_fetches(os_emulator, sid) for sid in ids]
        assert all(1 <= c <= 3 for c in counts), counts
        assert env.service.stats.get("received", "os1") == 1000

    def test_burst_ends_with_a_fetch_after_the_last_event(self, make_env: MakeEnv,
                                                          os_emulator: OpenStackEmulator) -> None:
        """A change made during a burst is seen: the coalesced fetch runs after the window, not only at its start."""
        env = make_env(os=os_emulator, events={"debounce": "0.3s"})
        server = os_emulator.seeded.servers[0]
        event = oslo_v2("compute.instance.update", {"instance_id": server["id"]})
        env.post_os(event)
        assert env.service.processor.wait_idle(5)
        os_emulator.cloud.update("compute.server", server["id"], name="late-change")
        env.post_os(event)  # inside the window of the first fetch: coalesced into the trailing one
        notes = env.wait_notes(1, timeout=3)
        assert [(n["action"], n["name"]) for n in notes] == [("update", "late-change")]
        assert server_fetches(os_emulator, server["id"]) == 2


class TestRefusals:
    def test_missing_token_is_401_and_nothing_happens(self, make_env: MakeEnv, os_emulator: OpenStackEmulator) -> None:
        """S04: Without Authorization the answer is 401 and nothing is fetched."""
        env = make_env(os=os_emulator)
        os_emulator.reset_requests()
        server = os_emulator.seeded.servers[0]
        reply = env.post("os1", oslo_v2("compute.instance.update", {"instance_id": server["id"]}))
        time.sleep(0.2)
        assert reply.status == 401 and "bearer" in reply.headers["www-authenticate"].lower()
        assert os_emulator.requests == [] and env.service.stats.get("unauthorized") == 1

    def test_forged_token_is_401(self, make_env: MakeEnv, os_emulator: OpenStackEmulator) -> None:
        """S04: A wrong bearer token (even a prefix of the right one) gets 401 and is never echoed."""
        env = make_env(os=os_emulator)
        for forged in (TOKEN[:-1], TOKEN + "x", "", TOKEN.upper()):
            reply = env.post("os1", {"event_type": "compute.instance.update"}, Authorization=f"Bearer {forged}")
            assert reply.status == 401 and TOKEN not in str(reply.body)
        assert env.service.stats.get("received") == 0

    def test_token_of_another_scheme_is_401(self, make_env: MakeEnv, os_emulator: OpenStackEmulator) -> None:
        """The right token under another scheme (Basic) is refused."""
        env = make_env(os=os_emulator)
        assert env.post("os1", {"a": 1}, Authorization=f"Basic {TOKEN}").status == 401

    def test_unknown_source_is_401(self, make_env: MakeEnv, os_emulator: OpenStackEmulator) -> None:
        """A source with no event intake answers like a bad token (source names cannot be probed)."""
        env = make_env(os=os_emulator)
        assert env.post("nope", {"a": 1}, Authorization=f"Bearer {TOKEN}").status == 401

    @pytest.mark.parametrize(("body", "reason"), [
        (b"{not json", "not valid JSON"),
        (b"", "empty body"),
        (b"[]", "empty array"),
        (b'"text"', "JSON string"),
        (b"[1, 2]", "item 0"),
        (b"\xff\xfe{}", "not UTF-8"),
    ])
    def test_malformed_body_is_400_with_a_reason(self, make_env: MakeEnv, os_emulator: OpenStackEmulator,
                                                 body: bytes, reason: str) -> None:
        """B17: Malformed bodies get 400 with the reason, and are counted."""
        env = make_env(os=os_emulator, baseline=False)
        reply = env.post_os(body)
        assert reply.status == 400 and reason in reply.body["error"]
        assert env.service.stats.get("malformed", "os1") == 1

    def test_oversize_body_is_413(self, make_env: MakeEnv, os_emulator: OpenStackEmulator) -> None:
        """B17: A body over events.http.max_body gets 413 and is counted."""
        env = make_env(os=os_emulator, baseline=False, events={"http": {"port": 0, "max_body": 1000}})
        reply = env.post_os(b'{"event_type": "x", "payload": {"pad": "' + b"a" * 2000 + b'"}}')
        assert reply.status == 413 and env.service.stats.get("too_large", "os1") == 1

    def test_unknown_event_type_is_acknowledged_and_counted(self, make_env: MakeEnv,
                                                            os_emulator: OpenStackEmulator) -> None:
        """F30: An event type we do not model is accepted (202), counted as unknown and fetches nothing."""
        env = make_env(os=os_emulator, baseline=False)
        os_emulator.reset_requests()
        reply = env.post_os(oslo_v2("compute.metrics.update", {"host": "compute-1"}))
        assert reply.status == 202 and reply.body["unknown"] == 1 and reply.body["targets"] == 0
        assert env.service.stats.get("unknown", "os1") == 1 and os_emulator.requests == []

    def test_event_for_a_type_the_source_does_not_collect_is_unknown(self, make_env: MakeEnv,
                                                                     os_emulator: OpenStackEmulator) -> None:
        """A flavor event for a source whose entity_types leave flavors out fetches nothing."""
        env = make_env(os=os_emulator, baseline=False)
        reply = env.post_os(oslo_v2("flavor.update", {"nova_object.data": {"flavorid": "f-1"}}))
        assert reply.status == 202 and reply.body["unknown"] == 1

    def test_full_queue_is_503_with_retry_after(self, make_env: MakeEnv, os_emulator: OpenStackEmulator) -> None:
        """L07: With the queue full, new targets get 503 and Retry-After; events for queued targets still coalesce."""
        env = make_env(os=os_emulator, baseline=False, start=False, events={"queue_size": 2})
        intake = env.service.http
        assert intake is not None
        intake.start()  # intake only: no workers, so the queue cannot drain
        try:
            ids = [s["id"] for s in os_emulator.seeded.servers[:3]]
            events = [oslo_v2("compute.instance.update", {"instance_id": i}) for i in ids]
            assert env.post_os(events[:2]).status == 202
            full = env.post_os(events[2])
            assert full.status == 503 and int(full.headers["retry-after"]) >= 1
            assert env.post_os(events[0]).status == 202
            assert env.service.stats.get("rejected_full", "os1") == 1
        finally:
            intake.stop()

    def test_noop_source_accepts_and_drops(self, make_env: MakeEnv) -> None:
        """Events for a noop source are accepted, dropped and counted."""
        env = make_env(noop=True)
        reply = env.post("quiet", [{"event": "VM.CREATE"}, {"x": 1}], Authorization=f"Bearer {TOKEN}")
        assert reply.status == 202 and reply.body["status"] == "dropped"
        assert env.service.stats.get("dropped", "quiet") == 2
