"""Progress of a one-shot run on a terminal: the phase, the count, the total when known, the rate.

Owns the one progress display of cloud-poller (one line on stderr, redrawn in place, and
redrawn every half second while a phase such as a commit blocks, so it never looks frozen).
Shows nothing when stderr is not a terminal. Never affects a run: it only writes to its stream.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol, TextIO

PHASES = ("listing", "comparing", "committing", "delivering")


class Progress(Protocol):
    """What a run reports as it goes (RunSettings.progress); every call must be cheap."""

    def phase(self, source: str, phase: str, entity_type: str | None = None, total: int | None = None) -> None:
        """A new phase (one of PHASES) begins; ``total`` is the count expected, when known."""

    def count(self, source: str, entity_type: str, done: int) -> None:
        """``done`` items of the current phase so far."""

    def clear(self) -> None:
        """Erase the display (before a summary line is printed)."""


class TerminalProgress:
    """A one-line display: ``prod: listing compute.server: 12,000 of 40,000 (3,100/s)``."""

    def __init__(self, stream: TextIO, clock: Callable[[], float] = time.monotonic, interval: float = 0.1,
                 tick: float = 0.5) -> None:
        self.stream = stream
        self.clock = clock
        self.interval = interval
        self.tick = tick
        self._lock = threading.Lock()
        self._label = ""
        self._total: int | None = None
        self._done = 0
        self._started = 0.0
        self._drawn_at = float("-inf")
        self._shown = False
        self._active = False
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._log_filter = _EraseBeforeLogging(self)
        self._handlers: list[logging.Handler] = []

    def phase(self, source: str, phase: str, entity_type: str | None = None, total: int | None = None) -> None:
        """Start showing a phase (its count starts at 0)."""
        with self._lock:
            self._label = f"{source}: {phase}" + (f" {entity_type}" if entity_type else "")
            self._total, self._done, self._started = total, 0, self.clock()
            self._active = True
            self._draw()
        self._ensure_ticker()
        if not self._handlers:  # a log line written meanwhile must not land after the progress text
            self._handlers = list(logging.getLogger().handlers)
            for handler in self._handlers:
                handler.addFilter(self._log_filter)

    def count(self, source: str, entity_type: str, done: int) -> None:
        """Update the count; the line is redrawn at most every ``interval`` seconds."""
        with self._lock:
            self._done = done
            if self.clock() - self._drawn_at >= self.interval:
                self._draw()

    def clear(self) -> None:
        """Erase the line and pause redrawing until the next phase."""
        with self._lock:
            self._active = False
            if self._shown:
                self.stream.write("\r\033[K")
                self.stream.flush()
                self._shown = False

    def erase(self) -> None:
        """Erase the line for something else to be written; the next count or tick draws it again."""
        with self._lock:
            if self._shown:
                self.stream.write("\r\033[K")
                self.stream.flush()
                self._shown = False

    def close(self) -> None:
        """Erase the line, stop the ticker thread and stop watching the log handlers."""
        self.clear()
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=2)
        for handler in self._handlers:
            handler.removeFilter(self._log_filter)
        self._handlers = []

    def text(self) -> str:
        """The line as it would be drawn now."""
        elapsed = max(0.0, self.clock() - self._started)
        parts = [self._label]
        if self._done or self._total:
            parts[0] += f": {self._done:,}" + (f" of {self._total:,}" if self._total else "")
            if elapsed >= 0.5 and self._done:
                parts.append(f"({self._done / elapsed:,.0f}/s)")
        if elapsed >= 1:
            parts.append(f"{elapsed:.0f}s")
        return " ".join(parts)

    def _draw(self) -> None:
        self.stream.write("\r\033[K" + self.text())
        self.stream.flush()
        self._drawn_at = self.clock()
        self._shown = True

    def _ensure_ticker(self) -> None:
        if self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, name="poller-progress", daemon=True)
            self._ticker.start()

    def _tick(self) -> None:
        while not self._stop.wait(self.tick):
            with self._lock:
                if self._active:
                    self._draw()


class _EraseBeforeLogging(logging.Filter):
    """Erases the progress line before a log handler writes a record (and filters nothing)."""

    def __init__(self, display: TerminalProgress) -> None:
        super().__init__()
        self.display = display

    def filter(self, record: logging.LogRecord) -> bool:
        """Always True: the record is written, on a line of its own."""
        self.display.erase()
        return True


def for_terminal(stream: TextIO) -> TerminalProgress | None:
    """A display on ``stream`` when it is a terminal; None (no progress at all) when it is piped."""
    try:
        interactive = stream.isatty()
    except (AttributeError, ValueError):
        interactive = False
    return TerminalProgress(stream) if interactive else None
