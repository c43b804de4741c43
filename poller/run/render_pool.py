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
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from baseline import codec
from poller.run.rows import CommitFacts, CreatedBatch, render_created
from poller.run.workers import OrderedPool


class RenderFailed(RuntimeError):
    """A render worker died (killed, or out of memory): the commit cannot complete."""


def _start(dictionaries: list[tuple[int, bytes]]) -> None:
    for dict_id, data in dictionaries:
        codec.remember(dict_id, data)
    gc.disable()  # each batch's objects die with it


def _render(args: tuple[CommitFacts, list[Any], int | None, int | None, Any]) -> CreatedBatch:
    return render_created(*args)


class RenderPool(OrderedPool[CreatedBatch]):
    """Renders batches of creations of one type in ``workers`` forked processes, in order.

    ``submit`` queues a batch and yields the rendered batches that are ready (at most
    ``2 x workers`` in flight); ``results`` yields the rest.
    """

    def __init__(self, workers: int, dictionaries: list[tuple[int, bytes]]) -> None:
        super().__init__(workers, _start, (dictionaries,))

    def submit(
        self, facts: CommitFacts, items: list[Any], payload_dict: int | None, body_dict: int | None, stamp: Any,
    ) -> Iterator[CreatedBatch]:
        """Queue one batch; yield the finished batches at the head of the queue (see ``render_created``)."""
        self._offload(_render, (facts, items, payload_dict, body_dict, stamp))
        yield from self._ready()

    def _broken(self, exc: BrokenProcessPool) -> CreatedBatch:
        raise RenderFailed("a render worker died during the commit (killed, or out of memory); nothing committed") from exc
