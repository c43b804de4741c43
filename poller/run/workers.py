"""The hash pool: worker processes that decode, map, canonicalize and hash RawPages.

One pool per listing, forked (so the workers share the baseline index the main process
loaded, without copying it) when a listing yields its second RawPage; sized to the cores
or ``service.hash_workers``. Results come back in submission order, so the spool keeps
the listing's order. Never touches the database; a worker that dies fails the listing,
never the run. ``OrderedPool``, the forked pool that hands results back in order, also
carries the commit's render pool (poller/run/render_pool.py).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Generic, TypeVar

from collectors.base import RawPage
from poller.run.hashing import HashedBatch, HashJob, hash_items, hash_page
from poller.run.spool import spool_chunk

R = TypeVar("R")

# The job of the pool this worker process belongs to: set once, by the initializer, from the
# copy of the parent's memory that fork gave it (nothing of the index is pickled).
_JOB: HashJob | None = None


def default_workers() -> int:
    """How many hash workers to run when the configuration does not say: the usable cores."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _set_job(job: HashJob) -> None:
    global _JOB
    _JOB = job
    # Each page's objects die with it (no cycles); the cyclic GC would only rescan them.
    gc.disable()


def _work(page: RawPage) -> HashedBatch:
    assert _JOB is not None
    batch = hash_page(page, _JOB)
    if batch.changed:  # pickled once, here, in the spool's own form
        batch.spooled, batch.spooled_count = spool_chunk(batch.changed), len(batch.changed)
        batch.spooled_creations_only = all(change[0] == "create" for change in batch.changed)
        batch.changed = []
    return batch


class OrderedPool(Generic[R]):
    """Work done in forked processes, handed back in submission order (also what ran inline).

    At most ``2 x workers`` items are in flight, so memory stays flat. The processes are forked
    at the first ``_offload`` (so they start with the parent's memory as it is then, without
    pickling it) and run ``initializer(*initargs)`` first. ``_broken`` says what a dead worker's
    item becomes (a value to hand back, or an exception to raise).
    """

    def __init__(self, workers: int, initializer: Callable[..., None], initargs: tuple[Any, ...]) -> None:
        self.workers = max(1, workers)
        self._initializer, self._initargs = initializer, initargs
        self._executor: ProcessPoolExecutor | None = None
        self._pending: deque[Future[R] | R] = deque()

    def _ready(self) -> Iterator[R]:
        """The finished items at the head of the queue (waiting while it is over its bound)."""
        while self._pending and (len(self._pending) > 2 * self.workers or _done(self._pending[0])):
            yield self._take()

    def _offload(self, fn: Callable[[Any], R], arg: Any) -> None:
        if self._executor is None:
            context = multiprocessing.get_context("fork")
            self._executor = ProcessPoolExecutor(self.workers, mp_context=context, initializer=self._initializer,
                                                 initargs=self._initargs)
        self._pending.append(self._executor.submit(fn, arg))

    def results(self) -> Iterator[R]:
        """Every item still pending, in order, waiting for the workers."""
        while self._pending:
            yield self._take()

    def close(self) -> None:
        """Stop the workers (pending items are cancelled)."""
        self._pending.clear()
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def __enter__(self) -> OrderedPool[R]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _take(self) -> R:
        head = self._pending.popleft()
        if not isinstance(head, Future):
            return head
        try:
            return head.result()
        except BrokenProcessPool as exc:
            return self._broken(exc)

    def _broken(self, exc: BrokenProcessPool) -> R:
        raise exc


class HashPool(OrderedPool[HashedBatch]):
    """Hashes the batches of one listing, in worker processes when there is more than one page.

    ``submit`` queues a RawPage or a list of items; ``results`` yields the finished batches in
    the order submitted. With one worker (or before the second page) everything runs in this
    process.
    """

    def __init__(self, job: HashJob, workers: int) -> None:
        # fork: the workers start with the index in shared, copy-on-write memory.
        super().__init__(workers, _set_job, (job,))
        self.job = job
        self._pages = 0

    def submit(self, work: RawPage | list[Any]) -> Iterator[HashedBatch]:
        """Queue one page or batch of items; yields the batches that are ready in the meantime."""
        if isinstance(work, list):
            self._pending.append(hash_items(work, self.job))
        else:
            self._pages += 1
            if self._pages == 1 or self.workers == 1:
                self._pending.append(hash_page(work, self.job))  # one page: not worth a fork
            else:
                self._offload(_work, work)
        yield from self._ready()

    def _broken(self, exc: BrokenProcessPool) -> HashedBatch:
        return HashedBatch(error=f"a hash worker died while hashing {self.job.type_name} (killed, or out of memory)")


def _done(item: Any) -> bool:
    return not isinstance(item, Future) or item.done()
