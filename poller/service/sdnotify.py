"""systemd's notify protocol (``sd_notify``): READY=1, WATCHDOG=1 and STOPPING=1 as datagrams
to the unix socket named by ``$NOTIFY_SOCKET``, and the watchdog period from ``$WATCHDOG_USEC``.

Owns the service's conversation with its service manager. Without ``NOTIFY_SOCKET`` (not
under systemd, or ``Type=simple``) every call does nothing; it never raises and never blocks.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Mapping

import structlog

log = structlog.get_logger("poller.sdnotify")


class Notifier:
    """Sends state lines to systemd; ``ping_if_due`` keeps its watchdog fed at half its period."""

    def __init__(self, environ: Mapping[str, str] | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        env = os.environ if environ is None else environ
        self.address = _address(env.get("NOTIFY_SOCKET", ""))
        self.clock = clock
        self.watchdog_period = _watchdog_period(env)
        self._next_ping = 0.0
        self._warned = False

    @property
    def enabled(self) -> bool:
        """True when a service manager listens (NOTIFY_SOCKET is set)."""
        return self.address is not None

    @property
    def ping_interval(self) -> float | None:
        """Seconds between watchdog pings: half of WATCHDOG_USEC (None: no watchdog)."""
        return None if self.watchdog_period is None else self.watchdog_period / 2

    def send(self, *lines: str) -> bool:
        """Send ``lines`` (``KEY=value``) as one datagram; False when not under systemd or the send failed."""
        if self.address is None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto("\n".join(lines).encode(), self.address)
        except OSError as exc:
            if not self._warned:  # once: a watchdog ping every few seconds must not flood the log
                log.warning("sd_notify_failed", error=exc.strerror or type(exc).__name__)
                self._warned = True
            return False
        return True

    def ready(self, status: str = "") -> bool:
        """READY=1: the service is up (for Type=notify, ``systemctl start`` returns now)."""
        self._next_ping = self.clock() + (self.ping_interval or 0.0)
        return self.send("READY=1", *((f"STATUS={status}",) if status else ()))

    def ping_if_due(self) -> bool:
        """WATCHDOG=1 when half the watchdog period has passed since the last ping; True when sent."""
        interval = self.ping_interval
        if interval is None or self.address is None or self.clock() < self._next_ping:
            return False
        self._next_ping = self.clock() + interval
        return self.send("WATCHDOG=1")

    def stopping(self, status: str = "") -> bool:
        """STOPPING=1: a graceful stop has begun."""
        return self.send("STOPPING=1", *((f"STATUS={status}",) if status else ()))


def _address(value: str) -> str | bytes | None:
    """The socket address: a path, or ``@name`` for the abstract namespace (Linux)."""
    if not value:
        return None
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    return value if value.startswith("/") else None


def _watchdog_period(env: Mapping[str, str]) -> float | None:
    """WATCHDOG_USEC in seconds when the watchdog is meant for this process (WATCHDOG_PID)."""
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    pid = env.get("WATCHDOG_PID")
    if usec <= 0 or (pid and pid != str(os.getpid())):
        return None
    return usec / 1_000_000
