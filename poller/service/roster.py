"""What ``poller cluster`` shows: the group's members and who owns each source and durable sink.

Reads the coordination backend as an observer (it never joins the group, so it moves
nothing) and recomputes the owners on the same consistent hash ring the nodes use.
Never reads the baseline and never logs the backend URL.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from dataclasses import dataclass
from typing import Any

from poller.config import Config
from poller.errors import ConfigError, PollerError
from poller.service.cluster import backend_label, members_view, new_coordinator, ring_of


@dataclass(frozen=True)
class Roster:
    """The cluster as the backend sees it now."""

    group: str
    backend: str
    members: list[dict[str, Any]]
    sources: dict[str, str | None]  # source -> member id on the ring (None: no member)
    sinks: dict[str, str | None]  # durable sink -> member id holding its lock (None: nobody)

    def as_dict(self) -> dict[str, Any]:
        """The ``--format json`` document."""
        return {"group": self.group, "backend": self.backend, "members": self.members, "sources": self.sources,
                "sinks": self.sinks}


def ring_owners(members: dict[bytes, Any], names: list[str]) -> dict[str, str | None]:
    """Each name's owner on the ring over ``members``, as the nodes' Partitioner looks it up
    (``belongs_to_self`` hashes ``str(obj).encode()``)."""
    ring = ring_of(members)
    out: dict[str, str | None] = {}
    for name in names:
        nodes = ring.get_nodes(name.encode("utf8")) if members else set()
        out[name] = next(iter(nodes)).decode(errors="replace") if nodes else None
    return out


def roster(config: Config, timeout: float = 15.0) -> Roster:
    """Ask the backend of ``config.coordination`` for the group's members (PollerError when it does not answer)."""
    from poller.notify.registry import build_sink

    section = config.coordination
    if section is None:
        raise ConfigError(f"{config.path}: no coordination section: this node runs alone (see docs/cluster.md)")
    label = backend_label(section.backend_url)
    coord = new_coordinator(section, f"observer:{socket.gethostname()}:{os.getpid()}")
    answer: dict[str, Any] = {}

    def ask() -> None:
        try:
            coord.start()
            try:
                answer["members"] = dict(coord.get_members_with_capabilities(section.group.encode()).get())
            except Exception as exc:
                if type(exc).__name__ != "GroupNotCreated":
                    raise
                answer["members"] = {}
        except Exception as exc:  # tooz and driver errors: their text may carry the URL
            answer["error"] = type(exc).__name__
        finally:
            with contextlib.suppress(Exception):  # an observer that cannot say goodbye leaves nothing behind
                if coord.is_started:
                    coord.stop()

    # The drivers retry on their own (redis: 15 tries after redis-py's backoff, about a minute): bound the wait.
    asking = threading.Thread(target=ask, name="cluster-observer", daemon=True)
    asking.start()
    asking.join(timeout)
    if "members" not in answer:
        raise PollerError(f"coordination backend {label} does not answer ({answer.get('error', f'no answer in {timeout:g}s')})")
    members = answer["members"]
    view = members_view(members)
    sources = sorted(s.name for s in config.sources if s.enabled)
    durable = []
    for sink_config in config.notify.sinks:
        sink = build_sink(sink_config)
        try:
            if sink.durable:
                durable.append(sink.name)
        finally:
            sink.close()
    holders = {sink: m["id"] for m in view for sink in m["sinks"]}
    owners = ring_owners(members, sources)
    for m in view:
        m["sources"] = [s for s, owner in owners.items() if owner == m["id"]]
    return Roster(section.group, label, view, owners, {s: holders.get(s) for s in sorted(durable)})
