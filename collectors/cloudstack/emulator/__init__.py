"""A CloudStack API emulator on 127.0.0.1: ``CloudStackEmulator`` (see ``server.py``).

``inventory.py`` holds the emulated cloud, ``commands.py`` the list semantics,
``seed.py`` ready-made clouds. Shipped for tests and ``poller demo``; it never
binds anything but 127.0.0.1.
"""

from __future__ import annotations

from collectors.cloudstack.emulator.inventory import Inventory
from collectors.cloudstack.emulator.seed import DemoCloud
from collectors.cloudstack.emulator.server import CloudStackEmulator

__all__ = ["CloudStackEmulator", "DemoCloud", "Inventory"]
