"""The parse floor: one core parsing every line of a JSON Lines file with orjson, nothing else.

    python bench/parse_floor.py INVENTORY.jsonl

The reference bench/snapshot.py states cloud-poller's speed against: no hashing, no
database, no notification, no second core.
"""

from __future__ import annotations

import sys

import orjson


def main(path: str) -> None:
    """Parse every line once and print how many there were."""
    loads = orjson.loads
    count = 0
    with open(path, "rb") as handle:
        for line in handle:
            loads(line)
            count += 1
    print(f"{count} lines parsed")


if __name__ == "__main__":
    main(sys.argv[1])
