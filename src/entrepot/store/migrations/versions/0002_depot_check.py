"""Depot connection checks: the last result per depot and acl.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "depot_check",
        sa.Column(
            "resource_id",
            sa.Integer,
            sa.ForeignKey("resource.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("acl", sa.String(4), primary_key=True),
        sa.Column("checked_at", sa.String(32), nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("summary", sa.String(64), nullable=False),
        sa.Column("duration_ms", sa.Float, nullable=False),
        sa.Column("steps", sa.Text, nullable=False),
    )
    # Depots applied before checks existed have never been verified.
    op.execute("UPDATE resource SET status = 'pending' WHERE type = 'depot'")


def downgrade() -> None:
    op.drop_table("depot_check")
