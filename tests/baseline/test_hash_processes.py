"""B04: the same documents hash alike in other processes under other hash seeds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from baseline.canonical import canonical_bytes, hash_bytes

ROOT = Path(__file__).resolve().parents[2]
DOCS = [
    {"b": 1, "a": [True, None, 1.5], "big": 2**64, "neg": -(2**53) - 1},
    {"unicode": "caf\u00e9 \U0001f680", "keys": {"z": 1, "\u00e9": 2, "e\u0301": 3}, "set": [3, 1, 2]},
    {"float": 1e23, "tenth": 0.1, "nested": {"x": [{"y": {"z": "deep"}}]}},
]
SCRIPT = (
    "import json, sys\n"
    "from baseline.canonical import canonical_bytes, hash_bytes\n"
    "docs = json.loads(sys.stdin.read())\n"
    "print(json.dumps([hash_bytes(canonical_bytes(d)) for d in docs]))\n"
)


def test_B04_hashes_agree_across_processes_and_hash_seeds() -> None:
    """B04: three other processes with PYTHONHASHSEED 0, 1 and random compute this process's hashes."""
    here = [hash_bytes(canonical_bytes(d)) for d in DOCS]
    for seed in ("0", "1", "random"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        out = subprocess.run([sys.executable, "-c", SCRIPT], input=json.dumps(DOCS), capture_output=True, text=True,
                             env=env, check=True, timeout=60).stdout
        assert json.loads(out) == here, f"PYTHONHASHSEED={seed}"
