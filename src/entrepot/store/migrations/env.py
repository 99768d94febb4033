"""Alembic environment: runs on the connection the store hands over."""

from alembic import context

from entrepot.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,  # SQLite ALTERs go through table copies
)
with context.begin_transaction():
    context.run_migrations()
