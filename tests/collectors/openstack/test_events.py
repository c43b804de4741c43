"""translate_event: oslo.messaging notifications (v1 and v2 envelopes) to (type, key) pairs."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from collectors.openstack.events import event_targets


def v2(message: dict[str, Any]) -> dict[str, Any]:
    return {"oslo.version": "2.0", "oslo.message": orjson.dumps(message).decode()}


CASES = [
    ({"event_type": "compute.instance.update", "payload": {"instance_id": "s1"}}, [("compute.server", "s1")]),
    ({"event_type": "instance.update", "payload": {"nova_object.name": "InstanceUpdatePayload",
                                                   "nova_object.data": {"uuid": "s2"}}}, [("compute.server", "s2")]),
    ({"event_type": "port.update.end", "payload": {"port": {"id": "p1"}}}, [("network.port", "p1")]),
    ({"event_type": "port.delete.end", "payload": {"port_id": "p2"}}, [("network.port", "p2")]),
    ({"event_type": "security_group_rule.create.end",
      "payload": {"security_group_rule": {"id": "r", "security_group_id": "g1"}}},
     [("network.security_group", "g1")]),
    ({"event_type": "floatingip.update.end", "payload": {"floatingip": {"id": "f1"}}},
     [("network.floating_ip", "f1")]),
    ({"event_type": "image.update", "payload": {"id": "i1"}}, [("image.image", "i1")]),
    ({"event_type": "volume.attach.end", "payload": {"volume_id": "v1"}}, [("block_storage.volume", "v1")]),
    ({"event_type": "identity.project.updated", "payload": {"resource_info": "pr1"}},
     [("identity.project", "pr1")]),
    ({"event_type": "orchestration.stack.update.end",
      "payload": {"stack_identity": "arn:openstack:heat::t:stacks/web/st1"}}, [("orchestration.stack", "st1")]),
    ({"event_type": "compute.metrics.update", "payload": {"host": "x"}}, []),
]


class TestEvents:
    """Known notifications name their entity, in either envelope; others name nothing."""

    @pytest.mark.parametrize(("message", "expected"), CASES)
    def test_v1(self, message: dict[str, Any], expected: list[tuple[str, str]]) -> None:
        """A v1 (bare) message maps to its entity."""
        assert event_targets(message) == expected

    @pytest.mark.parametrize(("message", "expected"), CASES)
    def test_v2(self, message: dict[str, Any], expected: list[tuple[str, str]]) -> None:
        """The same message in a v2 envelope maps the same way."""
        assert event_targets(v2(message)) == expected

    @pytest.mark.parametrize("event", [{}, {"oslo.message": "{not json"}, {"event_type": 3, "payload": {}},
                                       {"event_type": "port.update.end", "payload": "x"}])
    def test_malformed(self, event: dict[str, Any]) -> None:
        """Malformed events name nothing and raise nothing."""
        assert event_targets(event) == []
