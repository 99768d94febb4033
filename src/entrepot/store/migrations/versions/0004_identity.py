"""Identity: users, and the use cases granted to tags (seeded with the roles' defaults).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from entrepot.store import now

revision = "0004"
down_revision = "0003"

# The roles' default grants when this migration was written (access/usecases.DEFAULT_GRANTS):
# frozen here, so a store's starting grants never depend on the code that migrates it. A later
# change of the defaults is a migration of its own.
DEFAULT_GRANTS = {
    "roles:id:data-dev": (
        "manage-all-other-resources-in-user-layer",
        "read-workspace",
        "read-all-dataset",
    ),
    "roles:id:system-dev": (
        "manage-all-depot",
        "manage-all-dataset",
        "manage-secrets",
        "read-workspace",
        "read-all-dataset",
    ),
    "roles:id:operator": (
        "manage-all-depot",
        "manage-all-dataset",
        "manage-secrets",
        "read-all-secrets-from-heimdall",
        "un-sanitize-resource",
        "read-all-dataset",
        "read-workspace",
        "run-as-scanner-user",
        "manage-metis",
        "manage-access",
        "read-audit-trail",
        "manage-master-key",
    ),
}


def upgrade() -> None:
    op.create_table(
        "user_account",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )
    grants = op.create_table(
        "usecase_grant",
        sa.Column("usecase", sa.String(96), primary_key=True),
        sa.Column("tag", sa.String(192), primary_key=True),
        sa.Column("granted_at", sa.String(32), nullable=False),
        sa.Column("granted_by", sa.String(128), nullable=False),
    )
    stamp = now()
    op.bulk_insert(
        grants,
        [
            {"usecase": usecase, "tag": tag, "granted_at": stamp, "granted_by": "entrepot"}
            for tag, usecases in DEFAULT_GRANTS.items()
            for usecase in usecases
        ],
    )


def downgrade() -> None:
    op.drop_table("usecase_grant")
    op.drop_table("user_account")
