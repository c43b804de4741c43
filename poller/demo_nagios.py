"""``poller demo``'s Nagios source: a real Nagios Core and Apache on 127.0.0.1, when nagios4 and apache2 are installed.

Owns starting the lab for the demo (collectors.nagios.lab), the source it adds, and the
demo's Nagios changes (a service goes CRITICAL, a host goes DOWN). Never touches the
system's own Nagios or Apache and never listens beyond 127.0.0.1.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

from collectors.nagios.lab import LabError, LabHost, LabService, NagiosLab

HOSTS = (LabHost("gateway"), LabHost("web-1", parents=("gateway",)), LabHost("db-1", parents=("gateway",)))
SERVICES = (LabService("web-1", "http"), LabService("db-1", "postgres"), LabService("db-1", "disk /var"))
PASSWORD_ENV = "POLLER_DEMO_NAGIOS_PASSWORD"


class _NagiosChanges:
    """Changes the demo's Nagios between the two snapshots, like the emulators' apply_demo_changes."""

    def __init__(self, lab: NagiosLab) -> None:
        self.lab = lab

    def apply_demo_changes(self) -> list[str]:
        """db-1/postgres goes CRITICAL and web-1 goes DOWN (forced checks), once Nagios shows both."""
        self.lab.set_service("db-1", "postgres", 2)
        self.lab.set_host("web-1", 2)
        self.lab.force_service_check("db-1", "postgres")
        self.lab.force_host_check("web-1")
        self.lab.wait(lambda: self.lab.current_state("db-1", "postgres") == 2
                      and self.lab.current_state("web-1") == 1)
        return ["service db-1/postgres went CRITICAL", "host web-1 went DOWN"]


def add_nagios_source(stack: ExitStack, found: dict[str, Any], echo: Callable[[str], None]) -> None:
    """Start the demo's Nagios lab and add the ``demo-nagios`` source to ``found``; one line when it cannot."""
    reason = NagiosLab.missing()
    if reason:
        echo(f"(Nagios Core not installed: the Nagios source is skipped; {reason})")
        return
    try:
        lab = stack.enter_context(NagiosLab(HOSTS, SERVICES))
    except LabError as exc:
        echo(f"(Nagios Core could not be started: the Nagios source is skipped; {exc})")
        return
    if not lab.wait(lab.all_checked):
        echo("(Nagios Core did not check its hosts in time: the Nagios source is skipped)")
        return
    os.environ[PASSWORD_ENV] = lab.password
    options = {"url": lab.url, "username": lab.username, "password": "${" + PASSWORD_ENV + "}"}
    found["demo-nagios"] = ({"collector": "nagios", "options": options}, _NagiosChanges(lab))
