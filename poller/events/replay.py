"""Replay protection for signed pushed events: each delivery id is accepted once per window.

Owns the memory of recently seen delivery ids (CloudStack's ``X-CS-Event-ID``, Standard
Webhooks' ``webhook-id``) per source, bounded in time and size. It never stores a body,
a signature or a credential.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

DEFAULT_WINDOW_S = 600.0
DEFAULT_MAX_IDS = 100_000
MAX_ID_LENGTH = 200


class ReplayGuard:
    """Remembers ``(source, delivery id)`` pairs for ``window`` seconds, at most ``max_ids`` of them.

    ``first_time`` is True the first time a pair is seen inside the window and False for a
    replay; the oldest pairs are forgotten first when the memory is full.
    """

    def __init__(self, window: float = DEFAULT_WINDOW_S, max_ids: int = DEFAULT_MAX_IDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self.max_ids = max_ids
        self._clock = clock
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, source: str, delivery_id: str) -> bool:
        """True unless ``delivery_id`` was already accepted for ``source`` within the window."""
        key = (source, delivery_id[:MAX_ID_LENGTH])
        now = self._clock()
        with self._lock:
            self._expire(now)
            if key in self._seen:
                return False
            self._seen[key] = now
            while len(self._seen) > self.max_ids:
                self._seen.popitem(last=False)
            return True

    def _expire(self, now: float) -> None:
        while self._seen:
            oldest_key, seen_at = next(iter(self._seen.items()))
            if now - seen_at < self.window:
                return
            del self._seen[oldest_key]
