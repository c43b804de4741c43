"""The AMQP intake against a real RabbitMQ: oslo.messaging notifications and CloudStack event-bus messages."""

from __future__ import annotations

import contextlib
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import kombu
import orjson
import pytest

from collectors.cloudstack.emulator import CloudStackEmulator
from collectors.openstack.emulator import OpenStackEmulator
from collectors.openstack.emulator import resources as r
from poller.events.amqp import decode
from tests.poller.events.conftest import HMAC_SECRET, TOKEN, Env, oslo_v2
from tests.poller.events.test_http_cloudstack import demo

MakeEnv = Callable[..., Env]


@pytest.fixture
def queue_name(amqp_broker: str) -> Iterator[str]:
    """A queue name of our own for this test, deleted afterwards."""
    name = f"cloud-poller.test.{uuid.uuid4().hex[:10]}"
    yield name
    with kombu.Connection(amqp_broker, connect_timeout=3) as conn, contextlib.suppress(Exception):  # already gone
        conn.channel().queue_delete(name)


def publish(url: str, exchange: str, routing_key: str, body: bytes, content_type: str) -> None:
    """Publish one raw message on an existing exchange."""
    with kombu.Connection(url, connect_timeout=3) as conn:
        producer = kombu.Producer(conn.channel())
        producer.publish(body, exchange=exchange, routing_key=routing_key, content_type=content_type,
                         content_encoding="utf-8", delivery_mode=2)


def wait_ready(env: Env) -> None:
    for listener in env.service.listeners:
        assert listener.ready.wait(10), "the AMQP listener did not start consuming"


def amqp_events(url: str, queue: str, **extra: Any) -> dict[str, Any]:
    return {"url": url, "queue": queue, **extra}


class TestOpenStackNotifications:
    def test_nova_notification_yields_the_change(self, make_env: MakeEnv, os_emulator: OpenStackEmulator,
                                                 amqp_broker: str, queue_name: str) -> None:
        """An oslo v2 notification on exchange nova, key notifications.info, makes the update reach the sink."""
        amqp = amqp_events(amqp_broker, queue_name, exchanges=["nova", "neutron"])
        env = make_env(os=os_emulator, events={"sources": {"os1": {"token": TOKEN, "amqp": amqp}}})
        wait_ready(env)
        server = os_emulator.seeded.servers[1]
        r.resize_server(os_emulator.cloud, server["id"], os_emulator.seeded.flavors[2])
        body = orjson.dumps(oslo_v2("compute.instance.resize.confirm.end", {"instance_id": server["id"]}))
        publish(amqp_broker, "nova", "notifications.info", body, "application/json")
        notes = env.wait_notes(1, timeout=3)
        assert [(n["action"], n["key"]) for n in notes] == [("update", server["id"])]

    def test_neutron_delete_yields_one_delete(self, make_env: MakeEnv, os_emulator: OpenStackEmulator,
                                              amqp_broker: str, queue_name: str) -> None:
        """port.delete.end on exchange neutron for a deleted port yields one delete notification."""
        amqp = amqp_events(amqp_broker, queue_name, exchanges=["neutron"])
        env = make_env(os=os_emulator, events={"sources": {"os1": {"token": TOKEN, "amqp": amqp}}})
        wait_ready(env)
        port = next(p for p in os_emulator.cloud.all("network.port") if p["device_owner"] == "compute:nova")
        os_emulator.cloud.delete("network.port", port["id"])
        body = orjson.dumps(oslo_v2("port.delete.end", {"port_id": port["id"]}, "network.controller"))
        publish(amqp_broker, "neutron", "notifications.info", body, "application/json")
        notes = env.wait_notes(1, timeout=3)
        assert [(n["action"], n["entity_type"], n["key"]) for n in notes] == [("delete", "network.port", port["id"])]

    def test_malformed_message_is_dropped_and_counted(self, make_env: MakeEnv, os_emulator: OpenStackEmulator,
                                                      amqp_broker: str, queue_name: str) -> None:
        """A non-JSON message is counted and acknowledged (not redelivered); the next one still works."""
        amqp = amqp_events(amqp_broker, queue_name, exchanges=["nova"])
        env = make_env(os=os_emulator, events={"sources": {"os1": {"token": TOKEN, "amqp": amqp}}})
        wait_ready(env)
        publish(amqp_broker, "nova", "notifications.info", b"\x00not json", "application/json")
        server = os_emulator.seeded.servers[0]
        os_emulator.cloud.update("compute.server", server["id"], name="after-garbage")
        body = orjson.dumps(oslo_v2("compute.instance.update", {"instance_id": server["id"]}))
        publish(amqp_broker, "nova", "notifications.info", body, "application/json")
        notes = env.wait_notes(1, timeout=3)
        assert [n["name"] for n in notes] == ["after-garbage"]
        assert env.service.stats.get("malformed", "os1") == 1

    def test_other_routing_keys_are_not_consumed(self, make_env: MakeEnv, os_emulator: OpenStackEmulator,
                                                 amqp_broker: str, queue_name: str) -> None:
        """notifications.error (another priority) is not bound, so it triggers nothing."""
        amqp = amqp_events(amqp_broker, queue_name, exchanges=["nova"])
        env = make_env(os=os_emulator, events={"sources": {"os1": {"token": TOKEN, "amqp": amqp}}})
        wait_ready(env)
        server = os_emulator.seeded.servers[0]
        body = orjson.dumps(oslo_v2("compute.instance.update", {"instance_id": server["id"]}))
        publish(amqp_broker, "nova", "notifications.error", body, "application/json")
        assert env.wait_notes(1, timeout=0.5) == [] and env.service.stats.get("received") == 0

    def test_existing_exchange_is_used_whatever_its_flags(self, make_env: MakeEnv, os_emulator: OpenStackEmulator,
                                                          amqp_broker: str, queue_name: str) -> None:
        """A durable exchange declared by someone else is bound as it is (no PRECONDITION_FAILED)."""
        exchange = f"test-nova-{uuid.uuid4().hex[:8]}"
        with kombu.Connection(amqp_broker, connect_timeout=3) as conn:
            kombu.Exchange(exchange, type="topic", durable=True, auto_delete=True).declare(channel=conn.channel())
            amqp = amqp_events(amqp_broker, queue_name, exchanges=[exchange], durable_exchanges=False)
            env = make_env(os=os_emulator, events={"sources": {"os1": {"token": TOKEN, "amqp": amqp}}})
            wait_ready(env)
            server = os_emulator.seeded.servers[2]
            os_emulator.cloud.update("compute.server", server["id"], name="via-durable")
            body = orjson.dumps(oslo_v2("compute.instance.update", {"instance_id": server["id"]}))
            publish(amqp_broker, exchange, "notifications.info", body, "application/json")
            assert [n["name"] for n in env.wait_notes(1, timeout=3)] == ["via-durable"]

    def test_listener_reconnects_after_the_connection_drops(self, make_env: MakeEnv, os_emulator: OpenStackEmulator,
                                                             amqp_broker: str, queue_name: str) -> None:
        """When the broker connection is cut, the listener reconnects and events published meanwhile still arrive."""
        amqp = amqp_events(amqp_broker, queue_name, exchanges=["nova"])
        env = make_env(os=os_emulator, events={"sources": {"os1": {"token": TOKEN, "amqp": amqp}}})
        wait_ready(env)
        listener = env.service.listeners[0]
        assert listener._connection is not None
        listener._connection.connection.transport.sock.shutdown(socket.SHUT_RDWR)  # the network drops
        deadline = time.monotonic() + 5
        while listener.ready.is_set() and time.monotonic() < deadline:
            time.sleep(0.02)
        server = os_emulator.seeded.servers[3]
        os_emulator.cloud.update("compute.server", server["id"], name="while-away")
        body = orjson.dumps(oslo_v2("compute.instance.update", {"instance_id": server["id"]}))
        publish(amqp_broker, "nova", "notifications.info", body, "application/json")  # waits in our durable queue
        wait_ready(env)
        assert [n["name"] for n in env.wait_notes(1, timeout=5)] == ["while-away"]


class TestCloudStackEventBus:
    def test_action_event_on_the_event_bus_yields_the_change(self, make_env: MakeEnv, cs_emulator: CloudStackEmulator,
                                                             amqp_broker: str, queue_name: str) -> None:
        """A text/plain action event on cloudstack-events (RabbitMQEventBus routing key) triggers the refresh."""
        amqp = amqp_events(amqp_broker, queue_name)
        env = make_env(cs=cs_emulator, events={"sources": {"cs1": {"hmac_secret": HMAC_SECRET, "amqp": amqp}}})
        wait_ready(env)
        vm = demo(cs_emulator).vms[1]
        cs_emulator.inventory.stop_vm(vm["id"])
        body = orjson.dumps({"event": "VM.STOP", "status": "Completed", "entity": "com.cloud.vm.VirtualMachine",
                             "entityuuid": vm["id"], "account": "a-1", "user": "u-1"})
        key = f"management-server.ActionEvent.VM-STOP.VirtualMachine.{vm['id']}"
        publish(amqp_broker, "cloudstack-events", key, body, "text/plain")
        notes = env.wait_notes(1, timeout=3)
        assert [(n["action"], n["key"], n["state"]) for n in notes] == [("update", vm["id"], "Stopped")]


class TestDecode:
    def test_only_objects_are_events(self) -> None:
        """A JSON object decodes; arrays, scalars and garbage do not."""
        assert decode(b'{"a": 1}') == {"a": 1}
        assert decode(b"[1]") is None and decode(b"1") is None and decode(b"\xff") is None
