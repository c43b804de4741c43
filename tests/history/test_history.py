"""The history checker's short form, as CI runs it: one overlapping, faulty history per backend, checked whole.

Three `poller run` nodes (own hostnames when root), 4 workers each, churning static inventories,
a bulk load, kill -9, SIGSTOP past the lease, and on PostgreSQL a restart of the private cluster
(never the shared server). Longer forms run by hand: ``python -m tests.history.run --minutes 10``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import _drop_pg_database, _new_pg_database
from tests.history.run import history, restarter
from tests.history.workload import Plan
from tests.private_servers import PrivatePostgres

SHORT = Plan(duration=45.0, nodes=3, workers=4, small_sources=3, small_size=150, bulk_sources=1, bulk_size=4000)


@pytest.mark.slow
@pytest.mark.timeout(480)
def test_history_on_sqlite_has_no_anomaly(tmp_path: Path) -> None:
    """SQLite, three nodes with kill -9 and SIGSTOP (F15, F17, F22, F23; CloudStack paging shift F12; a flaky
    webhook beside two jsonl sinks F20): nothing lost, out of order, stale, duplicated or falsely deleted."""
    report = history(tmp_path, "sqlite", f"sqlite:///{tmp_path / 'baseline.db'}", SHORT)
    assert report.counts["notifications in the outbox"].split()[0] != "0"
    assert report.ok, report.summary()


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(480)
def test_history_on_postgresql_has_no_anomaly(tmp_path: Path, private_pg: PrivatePostgres) -> None:
    """PostgreSQL (a private cluster, crashed and restarted mid-history), three nodes with kill -9 and SIGSTOP
    (F15, F17, F22, F23, F12, F20): nothing lost, out of order, stale, duplicated or falsely deleted."""
    name, url = _new_pg_database(private_pg.admin_url)
    try:
        report = history(tmp_path, "postgresql", url, SHORT, restarter(private_pg))
    finally:
        if not private_pg.started:
            private_pg.start()
        _drop_pg_database(private_pg.admin_url, name)
    assert report.counts["notifications in the outbox"].split()[0] != "0"
    assert report.ok, report.summary()
