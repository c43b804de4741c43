"""Stored blobs: zstd with a dictionary trained per type, LZ4 before there is one, zlib of old databases.

Real databases (a SQLite file, a PostgreSQL database), real `poller` processes reading what
another process wrote: a reader that never saw a dictionary must find it in the database.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zlib
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa

from baseline import codec
from baseline.store import open_store

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ZSTD = b"\x28\xb5\x2f\xfd"
LZ4 = b"\x04\x22\x4d\x18"


def _documents(n: int, start: int = 0) -> list[bytes]:
    return [orjson.dumps({"name": f"vm-{i}", "state": "ACTIVE", "attributes": {
        "id": f"{i:08d}-4e2a-4c1b-9d3e-{i:012d}", "flavor": {"vcpus": 2, "ram": 4096, "original_name": "m1.medium"},
        "metadata": {"env": "dev", "team": f"team-{i % 7}"}, "status": "ACTIVE", "OS-EXT-AZ:availability_zone": "az-1",
        "addresses": {"private": [{"version": 4, "addr": f"10.0.{i // 256 % 256}.{i % 256}"}]}}}) for i in range(start, start + n)]


def _inventory(path: Path, n: int, state: str = "ACTIVE") -> None:
    with path.open("w") as out:
        for i in range(n):
            out.write(json.dumps({"type": "compute.server", "key": f"k{i:06d}", "name": f"vm-{i}", "state": state,
                                  "attributes": {"flavor": {"vcpus": 2, "ram": 4096}, "status": state, "index": i,
                                                 "metadata": {"env": "dev", "team": f"team-{i % 7}"}}}) + "\n")


def _poller(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli", "--config", str(config), *args], capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).resolve().parents[2])


class TestRoundTrip:
    """Every format a blob may be in reads back to its bytes."""

    def test_lz4_without_a_dictionary(self) -> None:
        """No dictionary: an LZ4 frame, as every database before 0005 holds."""
        data = _documents(1)[0]
        blob = codec.compress(data)
        assert blob[:4] == LZ4 and codec.decompress(blob) == data

    def test_zlib_of_early_databases_is_still_read(self) -> None:
        """The zlib blobs of early development databases still decompress."""
        data = _documents(1)[0]
        assert codec.decompress(zlib.compress(data)) == data

    def test_zstd_with_a_trained_dictionary_is_much_smaller(self) -> None:
        """A dictionary trained on a type's documents: every document round-trips, each frame names
        the dictionary, and the whole is several times smaller than LZ4's."""
        docs = _documents(2000)
        trained = codec.train(docs[:1000], lambda _id: False)
        assert trained is not None
        dict_id, _data = trained
        blobs = codec.compress_many(docs, dict_id)
        assert all(b[:4] == ZSTD for b in blobs)
        assert [codec.decompress(b) for b in blobs] == docs
        assert sum(map(len, blobs)) * 3 < sum(len(codec.compress(d)) for d in docs)

    def test_batches_are_the_blobs_one_by_one(self) -> None:
        """compress_many's batch call writes the very bytes a call each would (an empty blob included);
        decompress_many reads a mix of two dictionaries, LZ4 and zlib back, in order."""
        import zstandard

        docs, others = _documents(600), _documents(600, start=10**6)
        first, second = codec.train(docs, lambda _id: False), codec.train(others, lambda _id: False)
        assert first is not None and second is not None
        batch = [*docs[:50], b"", *docs[50:100]]
        one_by_one = [zstandard.ZstdCompressor(level=codec.LEVEL, dict_data=codec._dictionary(first[0]),
                                               write_content_size=True, write_dict_id=True).compress(d) for d in batch]
        assert codec.compress_many(batch, first[0]) == one_by_one
        assert codec.compress_many([], first[0]) == []
        mixed = [*codec.compress_many(docs[:3], first[0]), codec.compress(docs[3]), zlib.compress(docs[4]),
                 *codec.compress_many(others[:3], second[0]), codec.compress_many([docs[5]], first[0])[0]]
        assert codec.decompress_many(mixed) == [*docs[:5], *others[:3], docs[5]]
        assert codec.decompress_many([]) == []

    def test_ids_already_taken_are_not_reused(self) -> None:
        """A new dictionary never takes an id the database already holds."""
        seen: list[int] = []

        def taken(dict_id: int) -> bool:
            seen.append(dict_id)
            return len(seen) < 3  # the first two ids drawn are "taken"

        trained = codec.train(_documents(600), taken)
        assert trained is not None and trained[0] == seen[2] and 2**15 <= trained[0] < 2**31

    def test_nothing_to_learn_means_lz4(self) -> None:
        """Samples zstd cannot train on (too few, all alike): no dictionary, the blobs stay LZ4."""
        assert codec.train([b"x"] * 5, lambda _id: False) is None

    def test_a_dictionary_no_open_database_holds_is_an_error(self) -> None:
        """A frame naming a dictionary nobody has is a clear error, not garbage."""
        import zstandard

        docs = _documents(600)
        foreign = zstandard.train_dictionary(8192, docs, dict_id=2**31 - 7)
        blob = zstandard.ZstdCompressor(dict_data=foreign).compress(docs[0])
        with pytest.raises(codec.UnknownDictionary, match=str(2**31 - 7)):
            codec.decompress(blob)


def test_first_load_trains_and_stores_one_dictionary_per_kind(store_url: str, tmp_path: Path) -> None:
    """A first load of 2,000 entities stores a payload and a body dictionary in the baseline; every
    payload and notification body of the load is zstd naming one of them; a second load with
    changes keeps using them (no new dictionary); a new process (`poller show`, `poller history`)
    that never saw them reads the entities and notifications from the database."""
    inventory = tmp_path / "inventory.jsonl"
    _inventory(inventory, 2000)
    config = tmp_path / "poller.yaml"
    config.write_text(f"baseline: {{url: '{store_url}'}}\n"
                      f"sources: [{{name: s, collector: static, options: {{path: '{inventory}'}}}}]\n")
    first = _poller(config, "snapshot", "--format", "jsonl")
    assert first.returncode == 0, first.stderr
    _inventory(inventory, 2000, state="SHUTOFF")
    second = _poller(config, "snapshot", "--format", "jsonl")
    assert second.returncode == 0, second.stderr
    assert len(second.stdout.splitlines()) == 2000

    engine = sa.create_engine(store_url)
    try:
        with engine.connect() as conn:
            dictionaries = {row.kind: row.id for row in conn.execute(sa.text("SELECT id, kind FROM poller_dictionaries"))}
            payloads = [bytes(r[0]) for r in conn.execute(sa.text("SELECT payload FROM poller_entities"))]
            bodies = [bytes(r[0]) for r in conn.execute(sa.text("SELECT body FROM poller_outbox"))]
    finally:
        engine.dispose()
    assert sorted(dictionaries) == ["body", "payload"]
    import zstandard

    assert {zstandard.get_frame_parameters(p).dict_id for p in payloads} == {dictionaries["payload"]}
    assert {zstandard.get_frame_parameters(b).dict_id for b in bodies} == {dictionaries["body"]}
    assert len(bodies) == 4000

    shown = _poller(config, "show", "compute.server/k001999", "--format", "json")
    assert shown.returncode == 0, shown.stderr
    assert '"SHUTOFF"' in shown.stdout and '"index": 1999' in shown.stdout.replace('"index":1999', '"index": 1999')
    history = _poller(config, "history", "compute.server/k000007", "--format", "json")
    assert history.returncode == 0, history.stderr
    assert history.stdout.count('"action"') >= 2 and "SHUTOFF" in history.stdout


def test_a_dictionary_trained_in_a_rolled_back_commit_is_not_left_behind(store_url: str) -> None:
    """A dictionary belongs to its transaction: rolled back, it is gone with the blobs that used it."""
    store = open_store(store_url)
    try:
        with pytest.raises(RuntimeError), store.transaction() as tx:
            assert tx.add_dictionary("s", "t", "payload", _documents(600), NOW) is not None
            raise RuntimeError("commit fails")
        with store.transaction() as tx:
            assert tx.dictionary("s", "t", "payload") is None
            kept = tx.add_dictionary("s", "t", "payload", _documents(600, 600), NOW)
        with store.transaction() as tx:
            assert tx.dictionary("s", "t", "payload") == kept
    finally:
        store.close()


def test_small_types_stay_lz4(tmp_path: Path) -> None:
    """A type with fewer entities than a dictionary needs keeps LZ4 blobs and stores no dictionary."""
    inventory = tmp_path / "inventory.jsonl"
    _inventory(inventory, codec.MIN_SAMPLES - 1)
    config = tmp_path / "poller.yaml"
    db = tmp_path / "b.db"
    config.write_text(f"baseline: {{url: 'sqlite:///{db}'}}\n"
                      f"sources: [{{name: s, collector: static, options: {{path: '{inventory}'}}}}]\n")
    assert _poller(config, "snapshot").returncode == 0
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM poller_dictionaries")).scalar() == 0
        heads = {bytes(r[0])[:4] for r in conn.execute(sa.text("SELECT payload FROM poller_entities"))}
    engine.dispose()
    assert heads == {LZ4}
