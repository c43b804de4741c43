"""The house rule "imports go downward", checked by walking every module's imports."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# package -> packages it must never import
FORBIDDEN = {
    "collectors": ("poller", "baseline", "cli"),
    "baseline": ("poller", "collectors", "cli"),
    "poller": ("cli",),
}


def imported_roots(path: Path) -> set[str]:
    """Top-level package names imported anywhere in a module (including inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_imports_go_downward() -> None:
    """collectors/ and baseline/ never import each other or poller/; nothing imports cli."""
    violations = []
    for package, forbidden in FORBIDDEN.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            bad = imported_roots(path) & set(forbidden)
            if bad:
                violations.append(f"{path.relative_to(ROOT)} imports {', '.join(sorted(bad))}")
    assert violations == []


def test_sqlalchemy_only_in_the_store() -> None:
    """SQLAlchemy is imported only by baseline/ (the store, its schema and migrations)."""
    offenders = [
        str(p.relative_to(ROOT))
        for package in ("poller", "collectors")
        for p in sorted((ROOT / package).rglob("*.py"))
        if {"sqlalchemy", "alembic"} & imported_roots(p)
    ]
    assert offenders == []
