"""The HTTP intake against the CloudStack emulator: webhook HMAC signatures and event-bus shapes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import orjson

from collectors.cloudstack.emulator import CloudStackEmulator, DemoCloud
from poller.events.auth import sign
from tests.poller.events.conftest import HMAC_SECRET, Env

MakeEnv = Callable[..., Env]
VM = "cloudstack.virtualmachine"


def demo(emulator: CloudStackEmulator) -> DemoCloud:
    """The seeded demo cloud's handles."""
    assert emulator.demo is not None
    return emulator.demo


def action_event(event: str, entity: str, uuid: str, status: str = "Completed") -> bytes:
    """An action event as ActionEventUtils.publishOnEventBus describes it (and webhooks POST it)."""
    return orjson.dumps({"user": "u-1", "account": "a-1", "event": event, "status": status, "entity": entity,
                         "entityuuid": uuid, "description": f"{event} done", "eventDateTime": "2026-01-01 12:00:00 +0000"})


def webhook(env: Env, body: bytes, secret: str = HMAC_SECRET, **headers: str) -> tuple[int, object]:
    """POST ``body`` to cs1 the way CloudStack's WebhookDeliveryThread does (X-CS-* headers, signature)."""
    all_headers = {"X-CS-Event-ID": str(uuid.uuid4()), "X-CS-Event": "VM.STOP", "User-Agent": "CS-Hookshot/a-1",
                   "X-CS-Signature": sign(secret, body), **headers}
    reply = env.post("cs1", body, **all_headers)
    return reply.status, reply.body


class TestWebhooks:
    def test_signed_webhook_yields_the_change_and_200(self, make_env: MakeEnv, cs_emulator: CloudStackEmulator) -> None:
        """A signed VM.STOP webhook (old Java-class entity) answers 200 and yields the VM's update."""
        env = make_env(cs=cs_emulator)
        vm = demo(cs_emulator).vms[1]
        cs_emulator.inventory.stop_vm(vm["id"])
        status, _ = webhook(env, action_event("VM.STOP", "com.cloud.vm.VirtualMachine", vm["id"]))
        notes = env.wait_notes(1, timeout=2)
        assert status == 200
        assert [(n["action"], n["key"], n["state"]) for n in notes] == [("update", vm["id"], "Stopped")]

    def test_new_style_entity_and_destroyed_vm_yields_one_delete(self, make_env: MakeEnv,
                                                                 cs_emulator: CloudStackEmulator) -> None:
        """VM.DESTROY naming the resource type: the expunged VM (empty list answer) is deleted once."""
        env = make_env(cs=cs_emulator)
        vm = demo(cs_emulator).vms[2]
        cs_emulator.inventory.destroy_vm(vm["id"])
        status, _ = webhook(env, action_event("VM.DESTROY", "VirtualMachine", vm["id"]))
        assert status == 200 and env.service.processor.wait_idle(5)
        vm_notes = [(n["action"], n["key"]) for n in env.wait_notes(1) if n["entity_type"] == VM]
        assert vm_notes == [("delete", vm["id"])]

    def test_state_change_event_with_json_description(self, make_env: MakeEnv, cs_emulator: CloudStackEmulator) -> None:
        """A resource state-change event (resource, id, old-state, new-state) triggers the refresh."""
        env = make_env(cs=cs_emulator)
        vm = demo(cs_emulator).vms[0]
        cs_emulator.inventory.stop_vm(vm["id"])
        inner = {"resource": "VirtualMachine", "id": vm["id"], "old-state": "Running", "new-state": "Stopped"}
        body = orjson.dumps({"eventType": "VirtualMachine-StateChange", "description": json.dumps(inner)})
        status, _ = webhook(env, body)
        notes = env.wait_notes(1, timeout=2)
        assert status == 200 and [(n["action"], n["key"]) for n in notes] == [("update", vm["id"])]

    def test_a_lie_yields_nothing(self, make_env: MakeEnv, cs_emulator: CloudStackEmulator) -> None:
        """VM.DESTROY for a VM the API still lists changes nothing."""
        env = make_env(cs=cs_emulator)
        vm = demo(cs_emulator).vms[3]
        status, _ = webhook(env, action_event("VM.DESTROY", "VirtualMachine", vm["id"]))
        assert status == 200 and env.service.processor.wait_idle(5)
        assert env.notes() == [] and env.service.stats.get("fetched", "cs1") == 1

    def test_wrong_signature_is_401(self, make_env: MakeEnv, cs_emulator: CloudStackEmulator) -> None:
        """S04: A signature made with another secret, or over another body, gets 401 and fetches nothing."""
        env = make_env(cs=cs_emulator, baseline=False)
        body = action_event("VM.STOP", "VirtualMachine", demo(cs_emulator).vms[0]["id"])
        assert webhook(env, body, secret="not-the-secret")[0] == 401
        assert webhook(env, body, **{"X-CS-Signature": sign(HMAC_SECRET, body + b" ")})[0] == 401
        assert webhook(env, body, **{"X-CS-Signature": "%%% not base64"})[0] == 401
        assert env.service.stats.get("unauthorized", "cs1") == 3 and env.service.stats.get("fetched") == 0

    def test_unsigned_webhook_is_401(self, make_env: MakeEnv, cs_emulator: CloudStackEmulator) -> None:
        """Without X-CS-Signature (and no token configured) the answer is 401."""
        env = make_env(cs=cs_emulator, baseline=False)
        assert env.post("cs1", {"event": "VM.STOP"}).status == 401

    def test_unsettled_action_is_acknowledged_as_unknown(self, make_env: MakeEnv,
                                                         cs_emulator: CloudStackEmulator) -> None:
        """A Started (not yet Completed) action names nothing: acknowledged and counted, nothing fetched."""
        env = make_env(cs=cs_emulator, baseline=False)
        body = action_event("VM.STOP", "VirtualMachine", demo(cs_emulator).vms[0]["id"], status="Started")
        status, reply = webhook(env, body)
        assert status == 200 and reply["unknown"] == 1 and env.service.stats.get("fetched") == 0  # type: ignore[index]


class TestReplayAndMediaType:
    def test_S04_replayed_signed_webhook_is_answered_once_and_fetched_once(
            self, make_env: MakeEnv, cs_emulator: CloudStackEmulator) -> None:
        """S04: the same signed delivery (same X-CS-Event-ID) sent three times queues one refresh."""
        env = make_env(cs=cs_emulator)
        vm = demo(cs_emulator).vms[1]
        cs_emulator.inventory.stop_vm(vm["id"])
        body = action_event("VM.STOP", "VirtualMachine", vm["id"])
        replies = [webhook(env, body, **{"X-CS-Event-ID": "evt-42"}) for _ in range(3)]
        assert env.service.processor.wait_idle(5)
        assert [status for status, _ in replies] == [200, 200, 200]
        assert [reply["status"] for _, reply in replies] == ["accepted", "duplicate", "duplicate"]  # type: ignore[index]
        assert env.service.stats.get("fetched", "cs1") == 1
        assert env.service.stats.get("replayed", "cs1") == 2

    def test_S04_a_new_delivery_id_for_the_same_body_is_accepted(
            self, make_env: MakeEnv, cs_emulator: CloudStackEmulator) -> None:
        """S04: a distinct delivery id is a distinct delivery (CloudStack sends one id per event)."""
        env = make_env(cs=cs_emulator, baseline=False)
        body = action_event("VM.STOP", "VirtualMachine", demo(cs_emulator).vms[0]["id"])
        first = webhook(env, body, **{"X-CS-Event-ID": "evt-1"})
        second = webhook(env, body, **{"X-CS-Event-ID": "evt-2"})
        assert [first[1]["status"], second[1]["status"]] == ["accepted", "accepted"]  # type: ignore[index]

    def test_B17_text_plain_body_is_415_and_fetches_nothing(
            self, make_env: MakeEnv, cs_emulator: CloudStackEmulator) -> None:
        """B17: a validly signed body sent as text/plain is refused with 415; nothing is queued."""
        env = make_env(cs=cs_emulator, baseline=False)
        body = action_event("VM.STOP", "VirtualMachine", demo(cs_emulator).vms[0]["id"])
        status, reply = webhook(env, body, **{"Content-Type": "text/plain; charset=UTF-8"})
        assert status == 415 and "application/json" in reply["error"]  # type: ignore[index]
        assert env.service.stats.get("unsupported_media_type", "cs1") == 1
        assert env.service.stats.get("received", "cs1") == 0

    def test_B17_json_with_charset_is_accepted(self, make_env: MakeEnv, cs_emulator: CloudStackEmulator) -> None:
        """B17: CloudStack's own Content-Type (application/json; charset=UTF-8) is accepted."""
        env = make_env(cs=cs_emulator, baseline=False)
        body = action_event("VM.STOP", "VirtualMachine", demo(cs_emulator).vms[0]["id"])
        status, _ = webhook(env, body, **{"Content-Type": "application/json; charset=UTF-8"})
        assert status == 200
