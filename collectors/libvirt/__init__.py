"""The libvirt collector package: KVM/QEMU, LXC and any other libvirt driver through one URI.

``collector`` (options and wiring), ``types`` (entity types), ``mapping`` (pure record ->
Entity functions) and ``connection`` (the only module that imports libvirt, lazily).
Importing this package never imports libvirt.
"""

from __future__ import annotations

from collectors.libvirt.collector import LibvirtCollector, demo_source_options

__all__ = ["LibvirtCollector", "demo_source_options"]
