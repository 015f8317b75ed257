"""Alembic environment: migrations run on a connection handed over by the store (see sql.py)."""

from __future__ import annotations

from alembic import context

from openmaas.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through openmaas.store.sql (`openmaas db upgrade`), not bare alembic")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
