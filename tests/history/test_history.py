"""The history checker's short form, as CI runs it: one overlapping, faulty history per backend, checked whole.

Three `poller run` nodes (own hostnames when root), 4 workers each, churning static inventories,
a bulk load, kill -9, SIGSTOP past the lease, and on PostgreSQL a restart of the private cluster
(never the shared server). Longer forms run by hand: ``python -m tests.history.run --minutes 10``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.history.run import history
from tests.history.workload import Plan

SHORT = Plan(duration=45.0, nodes=3, workers=4, small_sources=3, small_size=150, bulk_sources=1, bulk_size=4000)


@pytest.mark.slow
@pytest.mark.timeout(480)
def test_history_on_sqlite_has_no_anomaly(tmp_path: Path) -> None:
    """SQLite, three nodes with kill -9 and SIGSTOP: nothing lost, out of order, stale, duplicated or falsely deleted."""
    report = history(tmp_path, "sqlite", f"sqlite:///{tmp_path / 'baseline.db'}", SHORT)
    assert report.counts["notifications in the outbox"].split()[0] != "0"
    assert report.ok, report.summary()

