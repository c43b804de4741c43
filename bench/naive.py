"""The script a competent operator would write in an afternoon: whole JSON documents in SQLite.

    python bench/naive.py INVENTORY.jsonl STATE.db

Standard library only. Reads the JSON Lines inventory, keeps each entity as its whole
JSON document (keys sorted) in a SQLite table, and prints how many were created, updated
and deleted since the last run. The reference `bench/snapshot.py` times cloud-poller against.
"""

from __future__ import annotations

import json
import sqlite3
import sys


def main(inventory: str, state: str) -> None:
    """Compare the inventory with the documents stored by the previous run, and store it."""
    db = sqlite3.connect(state)
    db.execute("CREATE TABLE IF NOT EXISTS docs (type TEXT, key TEXT, doc TEXT, PRIMARY KEY (type, key))")
    old = {(t, k): d for t, k, d in db.execute("SELECT type, key, doc FROM docs")}
    created: list[tuple[str, str, str]] = []
    updated: list[tuple[str, str, str]] = []
    seen: set[tuple[str, str]] = set()
    with open(inventory, encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            record = json.loads(line)
            ident = (record["type"], str(record["key"]))
            doc = json.dumps(record, sort_keys=True, separators=(",", ":"))
            seen.add(ident)
            before = old.get(ident)
            if before is None:
                created.append((*ident, doc))
            elif before != doc:
                updated.append((doc, *ident))
    deleted = [ident for ident in old if ident not in seen]
    with db:
        db.executemany("INSERT INTO docs (type, key, doc) VALUES (?, ?, ?)", created)
        db.executemany("UPDATE docs SET doc = ? WHERE type = ? AND key = ?", updated)
        db.executemany("DELETE FROM docs WHERE type = ? AND key = ?", deleted)
    print(f"created {len(created)}, updated {len(updated)}, deleted {len(deleted)}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
