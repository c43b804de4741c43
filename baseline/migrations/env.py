"""Alembic environment: runs the baseline's migrations on the connection it is handed.

Migrations run automatically on first use (baseline.store.open_store); this file
never reads a URL of its own, so no credential passes through Alembic's logging.
"""

from __future__ import annotations

from alembic import context

from baseline.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only for `alembic revision --autogenerate` by developers
    from sqlalchemy import create_engine

    connection = create_engine(context.config.get_main_option("sqlalchemy.url")).connect()

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
