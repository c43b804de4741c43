"""The same change set computed the ways a user might otherwise do it, timed.

- DiffSync (networktocode/diffsync): every entity loaded as a pydantic model on both
  sides, then ``diff_from``.
- Whole JSON documents compared in the database: every listed document written to a
  staging table in SQLite, then joined against the stored documents.
- Both other ways are charged the time to read and parse the new inventory, as
  cloud-poller is; neither computes field-level changes or notifications.
- cloud-poller: the in-process pipeline of `poller snapshot` (static collector, hashing,
  diff, commit) on a SQLite baseline holding the first snapshot.

Printed as seconds and as ratios against cloud-poller. Needs ``pip install diffsync``.
"""

from __future__ import annotations

import gc
import sqlite3
import time
from pathlib import Path
from typing import Any

import orjson
from inventory import write


def _records(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line]


def time_diffsync(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> tuple[float, int]:
    """Seconds to load both sides as DiffSync models and diff them; number of changes found."""
    from diffsync import Adapter, DiffSyncModel

    class Server(DiffSyncModel):
        _modelname = "server"
        _identifiers = ("key",)
        _attributes = ("name", "state", "project", "document")
        key: str
        name: str | None = None
        state: str | None = None
        project: str | None = None
        document: str

    class Side(Adapter):
        server = Server
        top_level = ["server"]

        def __init__(self, records: list[dict[str, Any]]) -> None:
            super().__init__()
            self.records = records

        def load(self) -> None:
            for r in self.records:
                self.add(Server(key=r["key"], name=r.get("name"), state=r.get("state"), project=r.get("project"),
                                document=orjson.dumps(r["attributes"], option=orjson.OPT_SORT_KEYS).decode()))

    started = time.perf_counter()
    old, new = Side(before), Side(after)
    old.load()
    new.load()
    diff = old.diff_from(new)
    summary = diff.summary()
    return time.perf_counter() - started, summary["create"] + summary["update"] + summary["delete"]


def time_json_in_db(before: list[dict[str, Any]], after: list[dict[str, Any]], path: Path) -> tuple[float, int]:
    """Seconds to stage every new document in SQLite and compare it with the stored one by SQL."""
    path.unlink(missing_ok=True)
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE base (key TEXT PRIMARY KEY, doc TEXT)")
    db.executemany("INSERT INTO base VALUES (?, ?)", ((r["key"], orjson.dumps(r, option=orjson.OPT_SORT_KEYS).decode()) for r in before))
    db.commit()
    started = time.perf_counter()
    db.execute("CREATE TEMP TABLE staging (key TEXT PRIMARY KEY, doc TEXT)")
    db.executemany("INSERT INTO staging VALUES (?, ?)", ((r["key"], orjson.dumps(r, option=orjson.OPT_SORT_KEYS).decode()) for r in after))
    changed = db.execute(
        "SELECT count(*) FROM staging s LEFT JOIN base b ON b.key = s.key WHERE b.doc IS NULL OR b.doc <> s.doc"
    ).fetchone()[0]
    deleted = db.execute("SELECT count(*) FROM base b LEFT JOIN staging s ON s.key = b.key WHERE s.key IS NULL").fetchone()[0]
    db.execute("DELETE FROM base WHERE key NOT IN (SELECT key FROM staging)")
    db.execute("INSERT OR REPLACE INTO base SELECT s.key, s.doc FROM staging s LEFT JOIN base b ON b.key = s.key "
               "WHERE b.doc IS NULL OR b.doc <> s.doc")
    db.commit()
    seconds = time.perf_counter() - started
    db.close()
    return seconds, changed + deleted


def time_poller(v1: Path, v2: Path, work: Path) -> tuple[float, int]:
    """Seconds for cloud-poller's second snapshot (in process), baseline from the first."""
    from baseline.store import open_store
    from poller.config import SourceConfig
    from poller.run.snapshot import run_one
    from poller.run.source import RunSettings

    url = f"sqlite:///{work / 'poller.db'}"
    for stale in work.glob("poller.db*"):
        stale.unlink()
    store = open_store(url)
    source = SourceConfig(name="bench", collector="static", options={"path": str(v1), "types": ["compute.server"]})
    run_one(source, store, RunSettings())
    source = SourceConfig(name="bench", collector="static", options={"path": str(v2), "types": ["compute.server"]})
    started = time.perf_counter()
    result = run_one(source, store, RunSettings())
    seconds = time.perf_counter() - started
    store.close()
    return seconds, result.changes


def compare(n: int, change: float, work: Path) -> None:
    """Print the three ways' times at N entities, as ratios against cloud-poller."""
    work.mkdir(parents=True, exist_ok=True)
    gc.disable()  # as cloud-poller does while consuming a listing: fair to every way
    v1, v2 = work / "v1.jsonl", work / "v2.jsonl"
    write(v1, n)
    write(v2, n, change=change, created=0.001, deleted=0.001)
    poller_s, poller_changes = time_poller(v1, v2, work)
    before = _records(v1)
    started = time.perf_counter()
    after = _records(v2)
    parse_s = time.perf_counter() - started  # every way has to read the new inventory
    rows = [("cloud-poller (read, hash, diff, commit)", poller_s, poller_changes)]
    try:
        seconds, changes = time_diffsync(before, after)
        rows.append(("DiffSync models (read + diff)", seconds + parse_s, changes))
    except ImportError:
        print("  (diffsync not installed: pip install diffsync)")
    seconds, changes = time_json_in_db(before, after, work / "json.db")
    rows.append(("JSON documents compared in SQLite (read + compare)", seconds + parse_s, changes))
    print(f"comparison at N={n:,} ({change:.0%} changed, 0.1% created, 0.1% deleted):")
    for label, seconds, changes in rows:
        print(f"  {label:<52} {seconds:7.2f} s  {seconds / poller_s:5.1f}x  ({changes:,} changes)")


if __name__ == "__main__":
    import sys

    compare(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000, 0.01, Path("/tmp/poller-compare"))

