"""The history checker: reads what a workload left (database, sink files, mutation log) and lists every anomaly.

Owns the definition of a correct history (docs/reliability.md, "History checker"). It only reads;
it never changes the database or the files, and it never excuses an anomaly.

Usage: ``python -m tests.history.checker RUN_DIR DB_URL`` (exit 1 when there are anomalies).
"""

from __future__ import annotations

import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from tests.history.cloud import VM_TYPE, version_of
from tests.history.inventory import SourceHistory, content, iter_jsonl, read_log_file
from tests.history.workload import SINKS

EXAMPLES = 8
CATEGORIES = {
    "lost": "a notification in the outbox never reached a durable sink",
    "parked": "a notification was parked by a durable sink",
    "phantom": "a sink received a notification the outbox does not hold (a rolled-back commit delivered?)",
    "sink_order": "per entity, a sink (deduplicated by id) shows versions or hashes out of order",
    "outbox_order": "per entity, the outbox (in seq order) breaks the version or hash chain",
    "backwards": "per entity, the outbox goes back to an older content version of the mutation log",
    "wrong_content": "a notification's content is not the mutation log's content for its version",
    "stale": "a create/update carries content the inventory did not have while its run listed",
    "false_delete": "an entity alive in the inventory during the whole listing was reported deleted",
    "duplicate_change": "the same change (source/type/key/new hash, or the same deletion) under two ids",
    "final_baseline": "after the final quiet snapshot the baseline differs from the final inventory",
    "quiet_changes": "the final quiet snapshot (nothing changed) produced notifications",
    "unsettled": "a source never completed a run in the final snapshots",
    "node_exit": "a `poller run` node exited without being killed, or did not exit 0 on SIGTERM",
}
WARNINGS = {
    "left_running": "a run is still 'running' after every node stopped (issue 12 item 3: closed as abandoned)",
}


@dataclass
class Report:
    """Counts and anomalies of one history; ``ok`` when no anomaly was found."""

    counts: dict[str, Any] = field(default_factory=dict)
    anomalies: dict[str, int] = field(default_factory=lambda: Counter())
    warnings: dict[str, int] = field(default_factory=lambda: Counter())
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def add(self, category: str, example: str) -> None:
        """Record one anomaly (or one warning: a WARNINGS category, printed but not failing)."""
        assert category in CATEGORIES or category in WARNINGS, category
        (self.anomalies if category in CATEGORIES else self.warnings)[category] += 1
        if len(self.examples[category]) < EXAMPLES:
            self.examples[category].append(example)

    @property
    def ok(self) -> bool:
        return not any(self.anomalies.values())

    def summary(self) -> str:
        """The printable summary: what ran, what was recorded and delivered, and every anomaly with examples."""
        lines = ["history checker summary"]
        for name, value in self.counts.items():
            lines.append(f"  {name}: {value}")
        if self.ok:
            lines.append("  anomalies: none")
        else:
            lines.append(f"  anomalies: {sum(self.anomalies.values())}")
            for category, count in sorted(self.anomalies.items()):
                lines.append(f"    {category} ({CATEGORIES[category]}): {count}")
                lines.extend(f"      - {example}" for example in self.examples[category])
        for category, count in sorted(self.warnings.items()):
            lines.append(f"  warning: {category} ({WARNINGS[category]}): {count}")
            lines.extend(f"      - {example}" for example in self.examples[category])
        return "\n".join(lines)


@dataclass(frozen=True)
class Note:
    """One outbox notification, as the checker needs it."""

    seq: int
    id: str
    source: str
    entity_type: str
    key: str
    action: str
    run_id: int | None
    version: int
    hash: str | None
    previous_hash: str | None
    entity: Any

    @property
    def ident(self) -> tuple[str, str, str]:
        return self.source, self.entity_type, self.key

    def describe(self) -> str:
        v = version_of(self.entity) if self.entity_type == VM_TYPE else self.entity.get("v") if isinstance(self.entity, dict) else None
        return (f"seq {self.seq} id {self.id} run {self.run_id} {self.source}/{self.entity_type}/{self.key} "
                f"{self.action} version {self.version} content v{v} {self.previous_hash}->{self.hash}")


def _epoch(moment: datetime | str | None) -> float | None:
    if moment is None:
        return None
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def read_database(url: str) -> tuple[list[Note], dict[int, dict[str, Any]], list[dict[str, Any]], list[tuple[str, int]]]:
    """(outbox notes in seq order, runs by id, live baseline rows, parked (sink, seq)) read from the baseline."""
    from baseline.codec import decompress, remember

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            # The zstd dictionaries the blobs were compressed with (this process may never have opened the store).
            for row in conn.execute(sa.text("SELECT id, data FROM poller_dictionaries")):
                remember(row.id, bytes(row.data))
            notes = []
            for row in conn.execute(sa.text("SELECT seq, id, body FROM poller_outbox ORDER BY seq")):
                body = orjson.loads(decompress(row.body))
                notes.append(Note(row.seq, row.id, body["source"], body["entity_type"], body["key"], body["action"],
                                  body.get("run_id"), body["version"], body["hash"], body["previous_hash"], body["entity"]))
            runs = {}
            for row in conn.execute(sa.text("SELECT id, source, holder, started_at, finished_at, status FROM poller_runs")):
                runs[row.id] = {"source": row.source, "holder": row.holder, "status": row.status,
                                "started": _epoch(row.started_at), "finished": _epoch(row.finished_at)}
            baseline = []
            query = "SELECT source, entity_type, key, version, payload FROM poller_entities WHERE deleted_at IS NULL"
            for row in conn.execute(sa.text(query)):
                payload = orjson.loads(decompress(row.payload)) if row.payload is not None else None
                baseline.append({"source": row.source, "entity_type": row.entity_type, "key": row.key, "payload": payload})
            parked = [(row.sink, row.seq) for row in conn.execute(sa.text("SELECT sink, seq FROM poller_parked"))]
    finally:
        engine.dispose()
    return notes, runs, baseline, parked


def check(directory: Path, db_url: str) -> Report:
    """Check the history a workload left in ``directory`` with its baseline at ``db_url``."""
    report = Report()
    histories = read_log_file(directory / "mutations.jsonl")
    notes, runs, baseline, parked = read_database(db_url)
    faults = [obj for _, obj in iter_jsonl(directory / "faults.jsonl") if obj is not None]
    end_of_history = max((f["t"] for f in faults), default=float("inf"))
    _count_history(report, histories, notes, runs, faults)
    check_delivery(report, directory, notes, parked)
    check_outbox(report, notes)
    check_against_log(report, notes, runs, histories, end_of_history)
    check_duplicates(report, notes)
    check_final(report, directory, histories, baseline, faults)
    check_nodes(report, runs, faults)
    return report


def check_nodes(report: Report, runs: Mapping[int, dict[str, Any]], faults: list[dict[str, Any]]) -> None:
    """Nodes exit only when killed or told to (then with 0); no run is left 'running' at the end."""
    for fault in faults:
        if fault["kind"] == "node_exited":
            report.add("node_exit", f"{fault['node']} exited {fault['exit']} by itself: {fault['last_line']}")
        elif fault["kind"] == "stopped" and fault["exit"] != 0:
            report.add("node_exit", f"{fault['node']} exited {fault['exit']} on SIGTERM")
        elif fault["kind"] == "stop_timeout_killed":
            report.add("node_exit", f"{fault['node']} did not exit within 60 s of SIGTERM")
    for run_id, run in sorted(runs.items()):
        if run["status"] == "running":
            report.add("left_running", f"run {run_id} of {run['source']} by {run['holder']}")


def _count_history(report: Report, histories: Mapping[str, SourceHistory], notes: list[Note],
                   runs: Mapping[int, dict[str, Any]], faults: list[dict[str, Any]]) -> None:
    statuses = Counter(run["status"] for run in runs.values())
    report.counts["sources"] = len(histories)
    report.counts["inventory generations"] = sum(len(h.t0) for h in histories.values())
    report.counts["entity versions in the mutation log"] = sum(
        sum(1 for v in versions if v is not None) for h in histories.values() for _, versions in h.entities.values())
    report.counts["runs"] = f"{len(runs)} ({', '.join(f'{k} {v}' for k, v in sorted(statuses.items()))})"
    actions = Counter(note.action for note in notes)
    report.counts["notifications in the outbox"] = f"{len(notes)} ({', '.join(f'{k} {v}' for k, v in sorted(actions.items()))})"
    kinds = Counter(f["kind"] for f in faults)
    report.counts["faults and events"] = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
    if faults:
        report.counts["duration"] = f"{faults[-1]['t'] - faults[0]['t']:.0f}s"


def read_sink(path: Path) -> tuple[list[dict[str, Any]], int]:
    """The notifications a jsonl sink wrote (rotated files first) and how many lines were not JSON."""
    delivered: list[dict[str, Any]] = []
    torn = 0
    files = sorted(path.parent.glob(path.name + ".*"), key=lambda p: -int(p.suffix[1:]) if p.suffix[1:].isdigit() else 0)
    for part in [*files, path]:
        for _, obj in iter_jsonl(part):
            if obj is None:
                torn += 1
            else:
                delivered.append(obj)
    return delivered, torn


def check_delivery(report: Report, directory: Path, notes: list[Note], parked: list[tuple[str, int]]) -> None:
    """Every outbox notification reached every durable sink (by id); nothing arrived that the outbox lacks;
    per entity, each sink's first occurrences keep the versions and the hash chain in order."""
    by_id = {note.id: note for note in notes}
    parked_by_sink: dict[str, set[int]] = defaultdict(set)
    for sink, seq in parked:
        parked_by_sink[sink].add(seq)
    for sink in SINKS:
        delivered, torn = read_sink(directory / "sinks" / f"{sink}.jsonl")
        ids = [n["id"] for n in delivered]
        unique = set(ids)
        report.counts[f"deliveries to {sink}"] = (f"{len(ids)} lines, {len(unique)} distinct ids, "
                                                  f"{len(ids) - len(unique)} repeated, {torn} torn lines")
        for note in notes:
            if note.id not in unique:
                if note.seq in parked_by_sink[sink]:
                    report.add("parked", f"{sink}: {note.describe()}")
                else:
                    report.add("lost", f"{sink}: {note.describe()}")
        for nid in unique - by_id.keys():
            report.add("phantom", f"{sink}: id {nid}")
        seen: set[str] = set()
        chains: dict[tuple[str, str, str], dict[str, Any]] = {}
        for n in delivered:
            if n["id"] in seen:
                continue
            seen.add(n["id"])
            ident = (n["source"], n["entity_type"], n["key"])
            before = chains.get(ident)
            if before is not None and n["version"] <= before["version"]:
                report.add("sink_order", f"{sink}: {'/'.join(ident)} version {n['version']} ({n['action']}, id {n['id']}) "
                                         f"after version {before['version']} ({before['action']}, id {before['id']})")
            chains[ident] = n


def _chain_state(note: Note) -> str | None:
    return None if note.action == "delete" else note.hash


def check_outbox(report: Report, notes: list[Note]) -> None:
    """Per entity in outbox order: versions increase and each change starts where the previous one ended."""
    last: dict[tuple[str, str, str], Note] = {}
    for note in notes:
        before = last.get(note.ident)
        if before is not None:
            if note.version <= before.version:
                report.add("outbox_order", f"{note.describe()} after {before.describe()}")
            elif note.previous_hash != _chain_state(before):
                report.add("outbox_order", f"{note.describe()} does not follow {before.describe()}")
        elif note.action != "create":
            report.add("outbox_order", f"{note.describe()} is the entity's first notification")
        last[note.ident] = note


def check_against_log(report: Report, notes: list[Note], runs: Mapping[int, dict[str, Any]],
                      histories: Mapping[str, SourceHistory], end_of_history: float) -> None:
    """Contents match the mutation log, never go back, were current while their run listed; no false deletions."""
    newest: dict[tuple[str, str, str], int] = {}
    for note in notes:
        history = histories.get(note.source)
        if history is None:
            continue
        ident = (note.entity_type, note.key)
        run = runs.get(note.run_id) if note.run_id is not None else None
        start = run["started"] if run and run["started"] is not None else 0.0
        end = run["finished"] if run and run["finished"] is not None else end_of_history
        during = history.versions_during(ident, start, end)
        if note.action == "delete":
            if None not in during:
                report.add("false_delete", f"{note.describe()}; versions while run listed "
                                           f"({start:.3f}..{end:.3f}): {sorted(during, key=str)}")
            continue
        version = content_version(note)
        if version is None:
            report.add("wrong_content", note.describe())
            continue
        if version < newest.get(note.ident, 0):
            report.add("backwards", f"{note.describe()} after content v{newest[note.ident]}")
        newest[note.ident] = max(version, newest.get(note.ident, 0))
        if version not in during:
            report.add("stale", f"{note.describe()}; versions while run listed ({start:.3f}..{end:.3f}): "
                                f"{sorted(during, key=str)}")


def content_version(note: Note) -> int | None:
    """The mutation-log version a create/update carries, None when its content is not that version's:
    a static entity's attributes must equal ``content`` exactly; a CloudStack VM names it in its displayname."""
    if note.entity_type == VM_TYPE:
        return version_of(note.entity)
    version = note.entity.get("v") if isinstance(note.entity, dict) else None
    if not isinstance(version, int) or note.entity != content(note.source, note.entity_type, note.key, version):
        return None
    return version


def check_duplicates(report: Report, notes: Iterable[Note]) -> None:
    """One change, one id: the same new state (or the same deletion of one state) never appears under two ids."""
    first: dict[tuple[Any, ...], Note] = {}
    for note in notes:
        change = (*note.ident, note.action, note.previous_hash if note.action == "delete" else note.hash)
        other = first.get(change)
        if other is not None and other.id != note.id:
            report.add("duplicate_change", f"{note.describe()} repeats {other.describe()}")
        first.setdefault(change, note)


def check_final(report: Report, directory: Path, histories: Mapping[str, SourceHistory],
                baseline: list[dict[str, Any]], faults: list[dict[str, Any]]) -> None:
    """The baseline after the quiet snapshot holds exactly the final inventory; the quiet snapshot changed nothing."""
    live: dict[tuple[str, str, str], Any] = {(r["source"], r["entity_type"], r["key"]): r["payload"] for r in baseline}
    expected: dict[tuple[str, str, str], int] = {}
    for source, history in histories.items():
        for (etype, key), version in history.final().items():
            expected[(source, etype, key)] = version
    for ident, version in expected.items():
        payload = live.get(ident)
        if payload is None:
            report.add("final_baseline", f"{'/'.join(ident)} v{version} is in the inventory, not in the baseline")
        elif ident[1] == VM_TYPE:
            if version_of(payload.get("attributes")) != version:
                report.add("final_baseline", f"{'/'.join(ident)}: baseline holds v{version_of(payload.get('attributes'))}, "
                                             f"inventory v{version}")
        elif payload.get("attributes") != content(*ident, version):
            report.add("final_baseline", f"{'/'.join(ident)}: baseline holds {payload.get('attributes')}, inventory v{version}")
    for ident in live.keys() - expected.keys():
        if ident[0] in histories:
            report.add("final_baseline", f"{'/'.join(ident)} is live in the baseline, absent from the inventory")
    report.counts["final inventory"] = f"{len(expected)} entities; live in the baseline: {len(live)}"
    quiet = [obj for _, obj in iter_jsonl(directory / "snapshot-quiet.jsonl") if obj is not None]
    for n in quiet:
        report.add("quiet_changes", f"{n['source']}/{n['entity_type']}/{n['key']} {n['action']} id {n['id']}")
    settled = [f for f in faults if f["kind"] == "settled"]
    for source in settled[-1]["unsettled"] if settled else ["(the workload never reached its final snapshots)"]:
        report.add("unsettled", source)


def main(argv: list[str]) -> int:
    """Check a run directory against its database and print the summary; 1 when anomalies were found."""
    if len(argv) != 2:
        print("usage: python -m tests.history.checker RUN_DIR DB_URL", file=sys.stderr)
        return 2
    report = check(Path(argv[0]), argv[1])
    print(report.summary())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
