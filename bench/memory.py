"""The memory sampler every benchmark uses: peaks of a process tree's memory while it runs."""

from __future__ import annotations

import threading
from collections.abc import Callable

import psutil


class PeakMemory:
    """Samples a process tree (``root`` and its children) every ``interval`` seconds until ``stop``.

    Peaks kept: ``pss``, the summed PSS of the tree (forked workers share their parent's pages:
    summing RSS would count those once per process; RSS stands in where PSS is not available);
    ``rss``, the largest single RSS; ``root_rss``, the root's own RSS; ``extra``, what ``extra()``
    returned (e.g. the memory of PostgreSQL's backends serving the run).
    """

    def __init__(self, root: int, extra: Callable[[], int] | None = None, interval: float = 0.05) -> None:
        self.root, self._extra, self.interval = root, extra, interval
        self.pss = self.rss = self.root_rss = self.extra = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                proc = psutil.Process(self.root)
                tree = [proc, *proc.children(recursive=True)]
                infos = [p.memory_full_info() for p in tree]
                self.pss = max(self.pss, sum(getattr(i, "pss", i.rss) for i in infos))
                self.rss = max([self.rss, *(i.rss for i in infos)])
                self.root_rss = max(self.root_rss, infos[0].rss)
                if self._extra is not None:
                    self.extra = max(self.extra, self._extra())
            except psutil.Error:
                pass  # the tree changed (a worker exited) between listing and reading it
            self._stop.wait(self.interval)

    def stop(self) -> None:
        """Stop sampling (the peaks stay readable)."""
        self._stop.set()
        self._thread.join()
