"""The spool: chunks read back in order, here and by forked processes, in memory or on disk."""

from __future__ import annotations

import multiprocessing
from typing import Any

import pytest

from poller.run.spool import Spool, spool_chunk


def _read_all(spool: Spool, chunks: list[Any]) -> list[Any]:
    return [spool.read(chunk) for chunk in chunks]


_FORKED: tuple[Spool, list[Any]] | None = None  # what the forked readers inherit (a spool is not picklable)


def _read_forked(step: int) -> list[Any]:
    assert _FORKED is not None
    spool, chunks = _FORKED
    return [spool.read(chunk) for _ in range(20) for chunk in chunks[::step]]


@pytest.mark.parametrize("memory_limit", [10**9, 1], ids=["in memory", "on disk"])
def test_chunks_are_what_was_appended_and_forked_processes_read_them_alike(memory_limit: int) -> None:
    """Tuples appended one by one (flushed a thousand at a time) and chunks pickled elsewhere
    come back chunk by chunk, in order, with their counts and whether they are creations only;
    two forked processes reading the chunks at once (a shared file position would mix them up)
    read the same."""
    spool = Spool(memory_limit)
    try:
        creations = [("create", f"k{i}", i, b"x" * 300, None) for i in range(1500)]
        for item in creations:
            spool.add(*item)
        mixed = [("update", "k0", 7, b"{}", 3), ("create", "k9999", 8, b"{}", None)]
        spool.append_chunk(spool_chunk(mixed), len(mixed), creations_only=False)
        spool.add("create", "last", 1, b"{}")
        chunks = spool.chunks()
        assert [(c.count, c.creations_only) for c in chunks] == [(1000, True), (500, True), (2, False), (1, True)]
        assert spool.count == 1503
        expected = [creations[:1000], creations[1000:], mixed, [("create", "last", 1, b"{}", None)]]
        assert _read_all(spool, chunks) == expected
        assert list(spool.items()) == [item for chunk in expected for item in chunk]
        global _FORKED
        _FORKED = (spool, chunks)
        with multiprocessing.get_context("fork").Pool(2) as pool:  # forked after: the spool as it is now
            results = [pool.apply_async(_read_forked, (step,)) for step in (1, -1)]
            forward, backward = (r.get(timeout=30) for r in results)
        assert forward == expected * 20 and backward == expected[::-1] * 20
    finally:
        _FORKED = None
        spool.close()
