"""The checker itself: a clean synthetic history passes, and each kind of broken history is caught by name.

Pure: histories are built in memory (a mutation log, outbox notes, runs, sink files in tmp_path),
so a checker that silently stopped checking would fail here, not pass in CI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.history.checker import (
    Note,
    Report,
    check_against_log,
    check_delivery,
    check_duplicates,
    check_final,
    check_nodes,
    check_outbox,
)
from tests.history.inventory import content, read_log
from tests.history.workload import SINKS

# One entity s/vm/a: created at v1 (t=100), updated to v2 (t=200), deleted (t=300).
LOG = [
    {"source": "s", "gen": 0, "t0": 100.0, "t1": 100.1, "changes": [["vm", "a", 1]]},
    {"source": "s", "gen": 1, "t0": 200.0, "t1": 200.1, "changes": [["vm", "a", 2]]},
    {"source": "s", "gen": 2, "t0": 300.0, "t1": 300.1, "changes": [["vm", "a", None]]},
]
RUNS = {1: (100.5, 101.0), 2: (200.5, 201.0), 3: (300.5, 301.0), 9: (100.5, 250.0)}


def histories() -> Any:
    return read_log(orjson.dumps(line) for line in LOG)


def runs() -> dict[int, dict[str, Any]]:
    return {rid: {"source": "s", "holder": "h", "status": "ok", "started": a, "finished": b} for rid, (a, b) in RUNS.items()}


def note(seq: int, action: str, version: int, previous: str | None, new: str | None, v: int | None, run: int,
         nid: str | None = None) -> Note:
    entity = content("s", "vm", "a", v) if v is not None else None
    return Note(seq, nid or f"id-{seq}", "s", "vm", "a", action, run, version, new, previous, entity)


CLEAN = [
    note(1, "create", 1, None, "h1", 1, 1),
    note(2, "update", 2, "h1", "h2", 2, 2),
    note(3, "delete", 3, "h2", None, None, 3),
]


def as_sink_line(n: Note) -> bytes:
    body = {"id": n.id, "source": n.source, "entity_type": n.entity_type, "key": n.key, "action": n.action,
            "version": n.version}
    return orjson.dumps(body) + b"\n"


def write_sinks(directory: Path, a: list[Note], b: list[Note] | None = None) -> None:
    (directory / "sinks").mkdir(exist_ok=True)
    (directory / "sinks" / "sink_a.jsonl").write_bytes(b"".join(map(as_sink_line, a)))
    for other in SINKS[1:]:
        (directory / "sinks" / f"{other}.jsonl").write_bytes(b"".join(map(as_sink_line, a if b is None else b)))


def full_check(directory: Path, notes: list[Note], *, sink_a: list[Note] | None = None) -> Report:
    report = Report()
    write_sinks(directory, notes if sink_a is None else sink_a, notes)
    check_delivery(report, directory, notes, [])
    check_outbox(report, notes)
    check_against_log(report, notes, runs(), histories(), 400.0)
    check_duplicates(report, notes)
    return report


class TestChecker:
    def test_clean_history_has_no_anomaly(self, tmp_path: Path) -> None:
        """Create, update and delete recorded, delivered and matching the log: no anomaly."""
        report = full_check(tmp_path, CLEAN)
        assert report.ok, report.summary()

    def test_undelivered_notification_is_lost(self, tmp_path: Path) -> None:
        """An outbox notification missing from one sink is reported lost for that sink only."""
        report = full_check(tmp_path, CLEAN, sink_a=CLEAN[:2])
        assert dict(report.anomalies) == {"lost": 1} and "sink_a: seq 3" in report.examples["lost"][0]

    def test_delivery_of_an_unknown_id_is_a_phantom(self, tmp_path: Path) -> None:
        """A sink line whose id the outbox does not hold is a phantom."""
        report = full_check(tmp_path, CLEAN, sink_a=[*CLEAN, note(9, "update", 9, "h2", "h9", 2, 2, nid="ghost")])
        assert report.anomalies["phantom"] == 1

    def test_sink_out_of_order_after_deduplication(self, tmp_path: Path) -> None:
        """Version 2 arriving before version 1 (first occurrences) breaks the sink's per-entity order."""
        report = full_check(tmp_path, CLEAN, sink_a=[CLEAN[1], CLEAN[0], CLEAN[1], CLEAN[2]])
        assert dict(report.anomalies) == {"sink_order": 1}

    def test_redelivered_duplicates_are_not_disorder(self, tmp_path: Path) -> None:
        """A batch delivered twice (same ids) keeps the first occurrences in order: no anomaly."""
        report = full_check(tmp_path, CLEAN, sink_a=[CLEAN[0], CLEAN[1], CLEAN[0], CLEAN[1], CLEAN[2]])
        assert report.ok, report.summary()

    def test_stale_commit_breaks_the_chain_and_goes_backwards(self, tmp_path: Path) -> None:
        """A frozen run committing v1 over v2 (the issue's scenario) is caught as outbox_order and backwards."""
        stale = note(3, "update", 3, "h1", "h1b", 1, 9)
        report = full_check(tmp_path, [*CLEAN[:2], stale])
        assert {"outbox_order", "backwards"} <= set(report.anomalies)

    def test_content_from_outside_the_listing_is_stale(self, tmp_path: Path) -> None:
        """An update carrying v1 by a run that listed while only v2 existed is stale."""
        report = full_check(tmp_path, [CLEAN[0], note(2, "update", 2, "h1", "h2", 1, 2), CLEAN[2]])
        assert "stale" in report.anomalies

    def test_deleting_a_live_entity_is_a_false_delete(self, tmp_path: Path) -> None:
        """A deletion by a run during which the entity was in the inventory is a false delete."""
        report = full_check(tmp_path, [CLEAN[0], note(2, "delete", 2, "h1", None, None, 2)])
        assert dict(report.anomalies) == {"false_delete": 1}

    def test_wrong_content_is_caught(self, tmp_path: Path) -> None:
        """A notification whose entity is not the log's content for its version is wrong_content."""
        bad = Note(1, "id-1", "s", "vm", "a", "create", 1, 1, "h1", None, {"v": 1, "label": "forged", "size": 7})
        report = full_check(tmp_path, [bad])
        assert dict(report.anomalies) == {"wrong_content": 1}

    def test_same_deletion_under_two_ids(self, tmp_path: Path) -> None:
        """The same deletion notified twice under two ids is a duplicate change."""
        twice = note(4, "delete", 4, "h2", None, None, 3)
        report = full_check(tmp_path, [*CLEAN, twice])
        assert report.anomalies["duplicate_change"] == 1

    @pytest.mark.parametrize("baseline, expected", [
        ([], "final_baseline"),
        ([{"source": "s", "entity_type": "vm", "key": "b", "payload": {"attributes": content("s", "vm", "b", 1)}}],
         "final_baseline"),
    ])
    def test_final_baseline_must_equal_the_inventory(self, tmp_path: Path, baseline: list[dict[str, Any]],
                                                      expected: str) -> None:
        """A missing or extra live entity after the quiet snapshot is a final_baseline anomaly."""
        log = [*LOG[:2]]  # a is alive at v2 at the end
        report = Report()
        check_final(report, tmp_path, read_log(orjson.dumps(line) for line in log), baseline, [{"kind": "settled", "unsettled": []}])
        assert set(report.anomalies) == {expected}

    def test_final_baseline_equal_to_the_inventory_passes(self, tmp_path: Path) -> None:
        """The live baseline holding exactly the final inventory's contents is no anomaly."""
        baseline = [{"source": "s", "entity_type": "vm", "key": "a", "payload": {"attributes": content("s", "vm", "a", 2)}}]
        report = Report()
        check_final(report, tmp_path, read_log(orjson.dumps(line) for line in LOG[:2]), baseline,
                    [{"kind": "settled", "unsettled": []}])
        assert report.ok, report.summary()

    def test_node_that_exits_by_itself(self) -> None:
        """A node exiting without being killed is an anomaly; a run left running is only a warning."""
        report = Report()
        check_nodes(report, {7: {"source": "s", "holder": "n1", "status": "running"}},
                    [{"kind": "node_exited", "node": "node1", "exit": 1, "last_line": "cannot migrate"}])
        assert dict(report.anomalies) == {"node_exit": 1} and dict(report.warnings) == {"left_running": 1}
