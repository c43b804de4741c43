"""The render pool: worker processes that build a first load's rows and notifications.

A first load commits a row, a compressed payload, a rendered notification and its
compressed body per entity: work that left the second core idle while the main process
did it alone. The commit hands whole batches of creations to forked workers
(``poller.run.rows.render_created``) and only inserts what comes back, in submission
order, so the outbox keeps the spool's order. Workers start after the type's zstd
dictionaries are known (forked with them, and handed their bytes). A worker that dies
fails the commit (the transaction rolls back; nothing is half-written).
"""

from __future__ import annotations

import gc
import multiprocessing
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from baseline import codec
from poller.run.rows import CommitFacts, CreatedBatch, render_created


class RenderFailed(RuntimeError):
    """A render worker died (killed, or out of memory): the commit cannot complete."""


def _start(dictionaries: list[tuple[int, bytes]]) -> None:
    for dict_id, data in dictionaries:
        codec.remember(dict_id, data)
    gc.disable()  # each batch's objects die with it


def _render(args: tuple[CommitFacts, list[Any], int | None, int | None]) -> CreatedBatch:
    return render_created(*args)


class RenderPool:
    """Renders batches of creations of one type in ``workers`` forked processes, in order.

    ``submit`` queues a batch and yields the rendered batches that are ready (at most
    ``2 x workers`` in flight); ``results`` yields the rest.
    """

    def __init__(self, workers: int, dictionaries: list[tuple[int, bytes]]) -> None:
        context = multiprocessing.get_context("fork")
        self.workers = workers
        self._executor = ProcessPoolExecutor(workers, mp_context=context, initializer=_start, initargs=(dictionaries,))
        self._pending: deque[Future[CreatedBatch]] = deque()

    def submit(
        self, facts: CommitFacts, items: list[Any], payload_dict: int | None, body_dict: int | None,
    ) -> Iterator[CreatedBatch]:
        """Queue one batch; yield the finished batches at the head of the queue."""
        self._pending.append(self._executor.submit(_render, (facts, items, payload_dict, body_dict)))
        while self._pending and (len(self._pending) > 2 * self.workers or self._pending[0].done()):
            yield self._take()

    def results(self) -> Iterator[CreatedBatch]:
        """Every batch still queued, in order."""
        while self._pending:
            yield self._take()

    def _take(self) -> CreatedBatch:
        try:
            return self._pending.popleft().result()
        except BrokenProcessPool as exc:
            raise RenderFailed("a render worker died during the commit (killed, or out of memory); nothing committed") from exc

    def close(self) -> None:
        """Stop the workers (queued batches are dropped)."""
        self._pending.clear()
        self._executor.shutdown(wait=True, cancel_futures=True)
