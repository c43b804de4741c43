"""The failure catalogue's coverage, read from the test suite itself.

Owns the list of failure-case ids (F01-F30, B01-B18, L01-L07, S01-S11, from the
project's reliability contract) and the table of which tests name each id in their
name or docstring. It never runs a test: it reads the test files' syntax trees.

    python -m tests.catalogue                          # print the table (markdown)
    python -m tests.catalogue --write docs/reliability.md   # refresh the table in the doc
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections.abc import Iterator
from pathlib import Path

CASES: dict[str, str] = {
    "F01": "HTTP 500 on page 3 of 5: scope failed, baseline unchanged",
    "F02": "read timeout then success; connect timeout on every retry",
    "F03": "connection reset mid-body: a page error, never a short page",
    "F04": "token expiry mid-pagination: re-authenticate once",
    "F05": "CloudStack signature expiry mid-listing, clock skew",
    "F06": "throttling: 429 / Retry-After honoured",
    "F07": "partial scope failure: other scopes proceed",
    "F08": "empty answer that looks successful: mass-deletion guard",
    "F09": "pagination loop: repeated cursor detected",
    "F10": "wrong next link: rebased or refused, token never leaves",
    "F11": "marker vanishes: bounded restart",
    "F12": "offset pages shift: no false deletion",
    "F13": "SQLite baseline locked longer than busy_timeout",
    "F14": "disk full during the commit",
    "F15": "kill -9 between commit and dispatch: nothing lost",
    "F16": "kill -9 after the sink acked: same id, same bytes",
    "F17": "kill -9 / SIGTERM mid-snapshot: nothing persisted, lock freed",
    "F18": "sink down for an hour: outbox grows, all delivered after",
    "F19": "bus accepts 700 of 1000: only the rest retried",
    "F20": "fan-out with one sink down: the others keep delivering",
    "F21": "clock jumps +2 h / -1 h while the scheduler runs",
    "F22": "overlapping run: the next one skipped and counted",
    "F23": "two processes on one database: one writer",
    "F24": "downtime longer than the interval: one catch-up run",
    "F25": "baseline lost or reset: new epoch, flagged first load",
    "F26": "baseline corrupt: refuse, never recreate silently",
    "F27": "PostgreSQL connection drop mid-commit / failover",
    "F28": "hash or schema version change: no update storm",
    "F29": "transient-field flapping: rules silence it",
    "F30": "pushed event burst: debounced into one refresh",
    "B01": "malformed JSON / HTML error page with 200",
    "B02": "non-UTF-8 bytes, lone surrogates",
    "B03": "NaN / Infinity / -0.0",
    "B04": "hash stability property test",
    "B05": "duplicate entity keys in one snapshot",
    "B06": "duplicate JSON object keys inside an entity",
    "B07": "Unicode entity keys (NFC/NFD, astral, ZWJ, case)",
    "B08": "enormous entity",
    "B09": "config names an unknown collector or key",
    "B10": "invalid config values",
    "B11": "wrong credentials: fail fast, no lockout",
    "B12": "secret leakage sweep",
    "B13": "secrets inside entities",
    "B14": "null vs missing vs empty",
    "B15": "wrong response shape",
    "B16": "entity missing its key field",
    "B17": "pushed event endpoint gets garbage",
    "B18": "diff report with hostile names",
    "L01": "1M entities: first run and an idle second run",
    "L02": "1M entities with 1% churn: exact counts",
    "L03": "100 collectors on one interval, API limited to 10",
    "L04": "slow API for hours: deadline, re-auth, progress",
    "L05": "diff report for 100k changes",
    "L06": "outbox backlog of 1M rows",
    "L07": "flood of signed pushed events",
    "S01": "CloudStack signing vectors",
    "S02": "TLS verification",
    "S03": "outbound webhook HMAC, secret rotation",
    "S04": "inbound event endpoint auth, replay, staleness",
    "S05": "secrets in config: env, files, permissions",
    "S06": "SQL-ish and odd keys, NUL",
    "S07": "path traversal in report output",
    "S08": "SSRF via pagination",
    "S09": "log and report injection",
    "S10": "least data: field allow/deny list",
    "S11": "read-only credentials",
}

# Cases whose tests do not yet cover everything the catalogue expects: what is missing.
PARTLY: dict[str, str] = {
    "F27": "PostgreSQL stopped mid-run, not a connection cut inside the commit statement",
    "L01": "100,000 entities in CI; 1,000,000 only by hand (POLLER_LOAD_ENTITIES)",
    "L02": "100,000 entities in CI; 1,000,000 only by hand (POLLER_LOAD_ENTITIES)",
    "L05": "100,000 entities in CI; the HTML report keeps a bounded sample of first loads",
    "L06": "100,000 rows in CI; no concurrent poll measured while draining",
    "L07": "1,000 events over about 2 s, not 1,000 per second for 60 s",
    "S05": "no *_file secret references, no warning on group/world-readable config, no `config show`",
}

ID = re.compile(r"(?<![A-Za-z0-9])([FBLS]\d\d)(?![0-9])")
TABLE_BEGIN = "<!-- catalogue:begin (generated by python -m tests.catalogue --write) -->"
TABLE_END = "<!-- catalogue:end -->"
TESTS = Path(__file__).resolve().parent


def named_tests(root: Path = TESTS) -> Iterator[tuple[str, str]]:
    """Every (case id, test node id) pair the test files under ``root`` declare."""
    for path in sorted(root.rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        relative = path.relative_to(root.parent).as_posix()
        yield from _walk(tree, relative, prefix="")


def _walk(node: ast.AST, path: str, prefix: str) -> Iterator[tuple[str, str]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.ClassDef) and child.name.startswith("Test"):
            yield from _walk(child, path, f"{prefix}{child.name}::")
        elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) and child.name.startswith("test"):
            text = f"{child.name}\n{ast.get_docstring(child) or ''}"
            for case in sorted({m for m in ID.findall(text) if m in CASES}):
                yield case, f"{path}::{prefix}{child.name}"


def coverage(root: Path = TESTS) -> dict[str, list[str]]:
    """The tests naming each case id (an empty list for a case no test names)."""
    table: dict[str, list[str]] = {case: [] for case in CASES}
    for case, test in named_tests(root):
        table[case].append(test)
    return table


def markdown(table: dict[str, list[str]]) -> str:
    """The coverage as a markdown table, with a one-line total."""
    covered = sum(1 for tests in table.values() if tests)
    partly = sum(1 for case, tests in table.items() if tests and case in PARTLY)
    lines = [f"{covered} of {len(table)} cases are named by at least one test; {partly} of those are only partly "
             "covered (the status says what is missing).", "",
             "| id | case | tests | status |", "| --- | --- | --- | --- |"]
    for case, tests in table.items():
        shown = "<br>".join(f"`{t}`" for t in tests[:4]) + (f"<br>… {len(tests) - 4} more" if len(tests) > 4 else "")
        status = ("partly: " + PARTLY[case]) if tests and case in PARTLY else "covered" if tests else "missing"
        lines.append(f"| {case} | {CASES[case]} | {shown or '—'} | {status} |")
    return "\n".join(lines) + "\n"


def write_into(doc: Path, table_text: str) -> None:
    """Replace the generated section of ``doc`` (between the markers) with ``table_text``."""
    text = doc.read_text(encoding="utf-8") if doc.exists() else ""
    block = f"{TABLE_BEGIN}\n{table_text}{TABLE_END}\n"
    if TABLE_BEGIN in text and TABLE_END in text:
        head, rest = text.split(TABLE_BEGIN, 1)
        tail = rest.split(TABLE_END, 1)[1].lstrip("\n")
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n## The failure catalogue, case by case\n\n" + block
    doc.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Print the table, or write it into a document; exit 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="refresh the generated table inside this markdown file")
    args = parser.parse_args(argv)
    text = markdown(coverage())
    if args.write:
        write_into(args.write, text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
