"""The render pool: a first load's creations built in worker processes, alike to the byte.

Real forked workers, real databases (SQLite file, PostgreSQL). The same listings committed
with one core (everything in this process) and with two (batches after the first rendered by
the pool) must leave the same baseline and the same notifications in the same order; a
worker that dies fails the commit and leaves nothing behind.
"""

from __future__ import annotations

import os
from typing import Any

import orjson

from baseline.diff import DeletionPolicy
from baseline.store import Store, open_store
from poller.run import render_pool, spool
from tests.poller.helpers import run, vm

N = 2500  # three spool chunks: the first trains the dictionaries in this process, the pool reads the others
VOLATILE = ("id", "time", "epoch", "run_id")  # differ between two databases by construction


def _entities(n: int, **extra: Any) -> list[dict[str, Any]]:
    return [vm(f"k{i:05d}", flavor={"vcpus": 2, "ram": 4096}, index=i, team=f"team-{i % 7}", **extra) for i in range(n)]


def _state(store: Store) -> tuple[list[Any], list[Any]]:
    notes = [{k: v for k, v in note.items() if k not in VOLATILE} for note in (orjson.loads(r.body) for r in store.history())]
    rows = sorted((e.key, e.version, e.hash, e.payload, e.name, e.parent, e.state, e.project, e.deleted_at is None)
                  for e in store.iter_entities(include_deleted=True))
    return notes, rows


def _history(url: str, clock: Any, workers: int) -> tuple[list[Any], list[Any]]:
    """A first load, a deletion of most, their re-creation (tombstones: upserts), in one database."""
    store = open_store(url)
    try:
        run(store, _entities(N), clock, hash_workers=workers)
        run(store, _entities(100), clock, hash_workers=workers, deletion=DeletionPolicy(allow_mass_delete=True))
        result, _ = run(store, _entities(N, again=True), clock, hash_workers=workers)
        assert (result.count("created"), result.count("updated")) == (N - 100, 100)
        return _state(store)
    finally:
        store.close()


def test_the_pool_commits_what_one_process_commits(store_url: str, tmp_path: Any, clock: Any, monkeypatch: Any) -> None:
    """Same baseline rows (versions after tombstones, payloads, envelopes) and same notifications in the
    same order, whether the creations were rendered in this process or by two workers."""
    used: list[int] = []
    real = render_pool.RenderPool.__init__

    def counting(self: Any, workers: int, *rest: Any) -> None:
        used.append(workers)
        real(self, workers, *rest)

    monkeypatch.setattr(render_pool.RenderPool, "__init__", counting)
    one = _history(f"sqlite:///{tmp_path / 'one.db'}", clock, workers=1)
    assert used == []
    two = _history(store_url, clock, workers=2)
    assert used == [2, 2]  # the first load and the re-creation went through the pool
    assert len(one[0]) == N + (N - 100) + (N - 100) + 100
    assert [n["key"] for n in one[0][:N]] == [f"k{i:05d}" for i in range(N)]  # listing order
    assert one == two


def test_the_pool_reads_a_spool_that_moved_to_disk(tmp_path: Any, clock: Any, monkeypatch: Any) -> None:
    """The workers read their chunks from the spool's temporary file when it is no longer in
    memory (every run's spool moves to disk at once here): the same rows and notifications."""
    in_memory = _history(f"sqlite:///{tmp_path / 'memory.db'}", clock, workers=2)
    moved: list[bool] = []
    real = spool.Spool.chunks

    def chunks(self: Any) -> Any:
        moved.append(self._file._rolled)
        return real(self)

    monkeypatch.setattr(spool, "MEMORY_LIMIT", 1)
    monkeypatch.setattr(spool.Spool, "chunks", chunks)
    on_disk = _history(f"sqlite:///{tmp_path / 'disk.db'}", clock, workers=2)
    assert moved == [True, False, True]  # the deletion run spools nothing, so nothing moves
    assert on_disk == in_memory


def test_a_render_worker_that_dies_fails_the_commit_and_leaves_nothing(store: Store, clock: Any, monkeypatch: Any) -> None:
    """A worker killed mid-commit (it exits without a word) fails the run; the baseline and the
    outbox stay empty; the next run commits every creation once."""
    real = render_pool.render_created

    def dies(*args: Any) -> Any:
        os._exit(9)

    monkeypatch.setattr(render_pool, "render_created", dies)
    result, _ = run(store, _entities(N), clock, hash_workers=2)
    assert result.status == "failed" and "render worker died" in (result.error or "")
    assert store.last_seq() == 0 and store.load_hashes("src", "vm") == {}
    monkeypatch.setattr(render_pool, "render_created", real)
    result, notes = run(store, _entities(N), clock, hash_workers=2)
    assert result.status == "ok" and result.count("created") == N
    assert [n["key"] for n in notes] == [f"k{i:05d}" for i in range(N)]


def test_a_silent_first_load_through_the_pool_commits_only_its_marker(store: Store, clock: Any) -> None:
    """initial_load: silent holds in the pool too: the baseline has every entity, the outbox one marker."""
    result, notes = run(store, _entities(N), clock, hash_workers=2, initial_load="silent")
    assert result.count("created") == N and len(store.load_hashes("src", "vm")) == N
    assert [n["action"] for n in notes] == ["baseline_initialized"]


def test_what_is_handed_on_is_what_the_outbox_holds(store: Store, clock: Any) -> None:
    """The notifications a committed first load hands on (its published spool: bodies the pool
    compressed, decompressed on the way out; the first batch's, rendered here, as they were)
    are the outbox's, byte for byte and in order."""
    from collectors.static import StaticCollector
    from poller.config import SourceConfig
    from poller.run.outcome import RunSettings
    from poller.run.snapshot import committed_records
    from poller.run.source import run_source

    entities = _entities(N)
    source = SourceConfig(name="src", collector="static", options={"entities": entities})
    result = run_source(source, StaticCollector("src", {"entities": entities}), store,
                        RunSettings(clock=clock, hash_workers=2))
    assert result.published is not None
    handed = [(r.id, r.action, r.body) for r in committed_records(store, result)]
    stored = [(r.id, r.action, r.body) for r in store.history(run_id=result.run_id)]
    assert len(handed) == N and handed == stored
    assert [orjson.loads(body)["key"] for _, _, body in handed] == [f"k{i:05d}" for i in range(N)]
