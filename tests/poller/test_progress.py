"""The terminal progress display: phase, count, total, rate; nothing at all when piped."""

from __future__ import annotations

import io

from poller.progress import TerminalProgress, for_terminal


class _Clock:
    """A hand-moved clock (no sleeping in tests)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


class TestTerminalProgress:
    """The one-line display."""

    def test_phase_count_total_and_rate(self) -> None:
        """A listing shows its count, the total when known and the rate once half a second has passed."""
        clock = _Clock()
        display = TerminalProgress(io.StringIO(), clock=clock, tick=3600)
        display.phase("prod", "listing", "compute.server", total=40000)
        clock.now += 4
        display.count("prod", "compute.server", 12000)
        assert display.text() == "prod: listing compute.server: 12,000 of 40,000 (3,000/s) 4s"
        display.close()

    def test_blocking_phase_shows_elapsed_time(self) -> None:
        """A commit has no count but shows how long it has been going, so it never looks frozen."""
        clock = _Clock()
        display = TerminalProgress(io.StringIO(), clock=clock, tick=3600)
        display.phase("prod", "committing")
        clock.now += 7
        assert display.text() == "prod: committing 7s"
        display.close()

    def test_redraws_are_throttled(self) -> None:
        """Counts arriving faster than the interval do not redraw the line each time."""
        clock = _Clock()
        stream = io.StringIO()
        display = TerminalProgress(stream, clock=clock, interval=0.1, tick=3600)
        display.phase("s", "listing", "vm")
        for n in range(1, 1000):
            display.count("s", "vm", n)
        assert stream.getvalue().count("\r\033[K") == 1
        clock.now += 0.2
        display.count("s", "vm", 1000)
        assert stream.getvalue().count("\r\033[K") == 2 and stream.getvalue().endswith("s: listing vm: 1,000")
        display.close()

    def test_clear_erases_the_line(self) -> None:
        """clear() leaves the cursor on an empty line for the summary."""
        stream = io.StringIO()
        display = TerminalProgress(stream, tick=3600)
        display.phase("s", "delivering", total=3)
        display.clear()
        assert stream.getvalue().endswith("\r\033[K")
        display.close()


def test_nothing_when_piped() -> None:
    """A stream that is not a terminal gets no display at all."""
    assert for_terminal(io.StringIO()) is None
    display = for_terminal(_Tty())
    assert isinstance(display, TerminalProgress)
    display.close()


def test_log_lines_are_written_on_a_line_of_their_own() -> None:
    """A log record written while the display is shown is preceded by an erase of the progress line."""
    import logging

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        display = TerminalProgress(stream, tick=3600)
        display.phase("s", "committing")
        logging.getLogger("poller.test").warning("lease_lost")
        display.close()
        logging.getLogger("poller.test").warning("after")
    finally:
        root.removeHandler(handler)
    assert "s: committing\r\033[Klease_lost\n" in stream.getvalue()
    assert stream.getvalue().endswith("after\n")
