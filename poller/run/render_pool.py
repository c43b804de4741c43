"""The render pool: worker processes that build a first load's rows and notifications.

A first load commits a row, a compressed payload, a rendered notification and its
compressed body per entity: work that left the second core idle while the main process
did it alone. The commit hands whole spool chunks of creations to forked workers
(``poller.run.rows.render_created``) and only inserts what comes back, in submission
order, so the outbox keeps the spool's order. The workers read the chunks themselves,
from the spool they were forked with: the documents never pass through the main process
again (at a first load of 100,000 that was 220 MB unpickled there and pickled to the
workers, while the main process is what the commit waits for). Workers start after the
type's zstd dictionaries are known (forked with them, and handed their bytes). A worker
that dies fails the commit (the transaction rolls back; nothing is half-written).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from baseline import codec
from poller.run.rows import CommitFacts, CreatedBatch, render_created
from poller.run.spool import Chunk, Spool
from poller.run.workers import OrderedPool

# What this worker reads its chunks from: set once, by the initializer, from the copy of the
# parent's memory that fork gave it (the spool and the type's tombstones are not pickled).
_SPOOL: Spool | None = None
_TOMBSTONES: dict[str, int] = {}


class RenderFailed(RuntimeError):
    """A render worker died (killed, or out of memory): the commit cannot complete."""


def _start(dictionaries: list[tuple[int, bytes]], spool: Spool, tombstones: dict[str, int]) -> None:
    global _SPOOL, _TOMBSTONES
    _SPOOL, _TOMBSTONES = spool, tombstones
    for dict_id, data in dictionaries:
        codec.remember(dict_id, data)
    gc.disable()  # each batch's objects die with it


def _render(args: tuple[CommitFacts, Chunk, int | None, int | None, Any]) -> CreatedBatch:
    facts, chunk, payload_dict, body_dict, stamp = args
    assert _SPOOL is not None
    # Spooled Pending tuples: (action, key, hash, document, source digest); a key over a
    # tombstone comes back at the version after it.
    items = [(key, digest, document, _TOMBSTONES.get(key, 0) + 1, source_digest)
             for _action, key, digest, document, source_digest in _SPOOL.read(chunk)]
    return render_created(facts, items, payload_dict, body_dict, stamp)


class RenderPool(OrderedPool[CreatedBatch]):
    """Renders chunks of creations of one type's ``spool`` in ``workers`` forked processes, in order.

    ``submit`` queues a chunk and yields the rendered batches that are ready (at most
    ``2 x workers`` in flight); ``results`` yields the rest. The spool must hold every chunk
    submitted before the first ``submit`` (the workers fork then, with it as it is).
    """

    def __init__(
        self, workers: int, dictionaries: list[tuple[int, bytes]], spool: Spool, tombstones: dict[str, int],
    ) -> None:
        super().__init__(workers, _start, (dictionaries, spool, tombstones))

    def submit(
        self, facts: CommitFacts, chunk: Chunk, payload_dict: int | None, body_dict: int | None, stamp: Any,
    ) -> Iterator[CreatedBatch]:
        """Queue one chunk of creations; yield the finished batches at the head of the queue
        (see ``render_created``)."""
        self._offload(_render, (facts, chunk, payload_dict, body_dict, stamp))
        yield from self._ready()

    def _broken(self, exc: BrokenProcessPool) -> CreatedBatch:
        raise RenderFailed("a render worker died during the commit (killed, or out of memory); nothing committed") from exc
