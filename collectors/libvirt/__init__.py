"""The libvirt collector package: KVM/QEMU, LXC and any other libvirt driver through one URI.

``collector`` (options and wiring), ``types`` (entity types), ``mapping`` (pure record ->
Entity functions), ``connection`` (the only module that imports libvirt, lazily) and
``demo`` (what ``poller demo`` uses). Importing this package never imports libvirt.
"""

from __future__ import annotations

from collectors.libvirt.collector import LibvirtCollector
from collectors.libvirt.demo import apply_demo_changes, demo_source_options, seed_demo

__all__ = ["LibvirtCollector", "apply_demo_changes", "demo_source_options", "seed_demo"]
