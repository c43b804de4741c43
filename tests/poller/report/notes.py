"""Notifications shaped like the demo's, for report tests (the outbox stores exactly these objects)."""

from __future__ import annotations

from typing import Any

HOSTILE = "<script>window.__pwned=1</script><img src=x onerror=\"window.__pwned=2\">\n\x1b[31mred|pipe`*_[x](y)"


def note(action: str, key: str, name: str | None, *, source: str = "demo-static", entity_type: str = "server",
         time: str = "2026-12-04T17:37:02.659Z", initial: bool = False, **extra: Any) -> dict[str, Any]:
    """One notification object as the outbox records it."""
    body: dict[str, Any] = {
        "id": f"id-{source}-{key}-{action}", "source": source, "time": time, "initial": initial, "entity_type": entity_type,
        "key": key, "name": name, "parent": {"type": "rack", "key": "r1"}, "state": "up", "project": None,
        "action": action, "changes": [] if action == "update" else None, "previous": None, "entity": {},
    }
    body.update(extra)
    return body


def demo_notes() -> list[dict[str, Any]]:
    """A first load of three servers and a rack, then a resize, db-1 going to maintenance, a create and a delete."""
    first = "2026-12-04T17:36:58.854Z"
    return [
        note("create", "r1", "rack-1", entity_type="rack", time=first, initial=True, parent=None, state=None),
        note("create", "s1", "web-1", time=first, initial=True),
        note("create", "s2", "db-1", time=first, initial=True),
        note("create", "s3", "batch-1", time=first, initial=True),
        note("update", "s1", "web-1", changes=[{"path": "/ram_gb", "old": 64, "new": 128}]),
        note("update", "s2", "db-1", state="maintenance", previous={"state": "up"}),
        note("create", "s4", "web-2"),
        note("delete", "s3", "batch-1"),
        note("update", "vm-9", "batch-worker-3", source="demo-openstack", entity_type="compute.server",
             previous={"name": "batch-3", "parent": {"type": "compute.hypervisor", "key": "hv-1"}, "project": "p-old"},
             parent={"type": "compute.hypervisor", "key": "hv-2"}, project="p-new", time="2026-12-04T17:37:04.100Z",
             changes=[{"path": "/name", "old": "batch-3", "new": "batch-worker-3"}]),
    ]
