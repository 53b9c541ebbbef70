"""Alembic environment: runs on the connection that ``usagelens.storage.migrate`` passes."""

from alembic import context

from usagelens.storage.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
