"""An OpenStack API emulator on 127.0.0.1 for tests, benchmarks and ``poller demo``.

A real threaded HTTP server speaking enough Keystone v3, Nova, Neutron, Glance,
Cinder, Placement and Heat for openstacksdk to talk to it unmodified, plus an
in-process API to change the emulated cloud and inject faults. Never imports
``poller/`` or ``baseline/``, and nothing in the collector depends on it.

    with OpenStackEmulator() as emu:
        emu.seed_demo()
        options = emu.source_options()     # inline ``auth`` for an ``openstack`` source
        ...
        emu.apply_demo_changes()            # boot, resize, delete, rename
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from collectors.openstack.emulator import demo
from collectors.openstack.emulator.cloud import Cloud
from collectors.openstack.emulator.compute import Compute
from collectors.openstack.emulator.http import EmulatorServer, Fault, LoggedRequest
from collectors.openstack.emulator.keystone import REGION, Keystone
from collectors.openstack.emulator.network import Network
from collectors.openstack.emulator.others import Others

__all__ = ["OpenStackEmulator", "Fault", "LoggedRequest"]


class OpenStackEmulator:
    """The emulated cloud and its HTTP server; a context manager that starts and stops it."""

    def __init__(self, clock: Callable[[], datetime] | None = None, seed: int = 0,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.cloud = Cloud(clock)
        self.server = EmulatorServer(self.cloud, ssl_context)
        self.keystone = Keystone(self.server, self.cloud)
        self.compute = Compute(self.server, self.cloud)
        self.network = Network(self.server, self.cloud, seed)
        self.others = Others(self.server, self.cloud, seed)
        self.seeded = demo.seed_identity(self.cloud)

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> OpenStackEmulator:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> OpenStackEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return self.server.base

    @property
    def auth_url(self) -> str:
        return self.server.base + "/identity"

    def source_options(self, **extra: Any) -> dict[str, Any]:
        """The ``options`` of a poller source reaching this emulator with inline ``auth``."""
        auth = {"auth_url": self.auth_url, "username": demo.ADMIN_USER, "password": demo.ADMIN_PASSWORD,
                "project_name": demo.ADMIN_PROJECT, "user_domain_name": "Default",
                "project_domain_name": "Default", "region_name": REGION, "interface": "public"}
        options: dict[str, Any] = {"auth": auth}
        options.update(extra)
        return options

    def add_application_credential(self, name: str = "poller", secret: str = "app-cred-secret") -> str:
        """An application credential of the admin user on the admin project; returns its id."""
        user = self.cloud.find("identity.user", name=demo.ADMIN_USER)
        project = self.cloud.find("identity.project", name=demo.ADMIN_PROJECT)
        assert user is not None and project is not None
        return self.keystone.add_application_credential(user["id"], project["id"], name, secret)

    def openrc(self) -> dict[str, str]:
        """The ``OS_*`` variables an openrc file for this emulator's admin would export."""
        auth = self.source_options()["auth"]
        return {"OS_AUTH_URL": auth["auth_url"], "OS_USERNAME": auth["username"], "OS_PASSWORD": auth["password"],
                "OS_PROJECT_NAME": auth["project_name"], "OS_USER_DOMAIN_NAME": "Default",
                "OS_PROJECT_DOMAIN_NAME": "Default", "OS_REGION_NAME": REGION, "OS_INTERFACE": "public",
                "OS_IDENTITY_API_VERSION": "3"}

    def clouds_yaml(self, name: str = "emulator") -> dict[str, Any]:
        """A clouds.yaml document naming this emulator ``name``."""
        auth = self.source_options()["auth"]
        return {"clouds": {name: {"auth": {k: auth[k] for k in ("auth_url", "username", "password", "project_name",
                                                                  "user_domain_name", "project_domain_name")},
                                  "region_name": REGION, "interface": "public", "identity_api_version": 3}}}

    # -- the cloud's content -----------------------------------------------------------
    def seed_demo(self) -> demo.Seeded:
        """Fill a small realistic cloud (see ``demo.seed_demo``)."""
        self.seeded = demo.seed_demo(self.cloud)
        return self.seeded

    def apply_demo_changes(self) -> dict[str, str]:
        """Boot a server, resize one, delete one, rename one; returns their ids by change."""
        return demo.apply_demo_changes(self.cloud, self.seeded)

    def seed_servers(self, count: int) -> list[str]:
        """Add ``count`` servers (for scale tests)."""
        return demo.seed_servers(self.cloud, self.seeded, count)

    # -- misbehaviour ------------------------------------------------------------------
    def inject(self, path: str, status: int | None = None, **kwargs: Any) -> Fault:
        """Add a fault on requests whose path matches the regex ``path`` (see ``Fault``)."""
        fault = Fault(path, status, **kwargs)
        self.server.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        self.server.faults.clear()

    def hide_service(self, service_type: str) -> None:
        """Leave a service out of the catalog of tokens issued from now on."""
        self.keystone.hidden_services.add(service_type)

    def remove_extension(self, kind: str) -> None:
        """Make a kind's API answer 404, as when its Neutron plugin or API extension is absent."""
        for service in (self.compute, self.network, self.others):
            service.missing.add(kind)

    def revoke_tokens(self) -> None:
        self.server.revoke_tokens()

    def set_token_ttl(self, seconds: float) -> None:
        self.server.token_ttl = timedelta(seconds=seconds)

    @property
    def requests(self) -> list[LoggedRequest]:
        """Every request served so far, in order."""
        return self.server.log

    def reset_requests(self) -> None:
        self.server.log.clear()
