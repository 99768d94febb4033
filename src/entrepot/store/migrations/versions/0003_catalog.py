"""Metis catalog (sources, datasets, change history) and workflow runs.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "catalog_source",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("depot", sa.String(64), nullable=False),
        sa.Column("source_type", sa.String(32), nullable=False),
        sa.Column("last_scan_at", sa.String(32)),
        sa.Column("last_run_id", sa.Integer),
        sa.Column("signature", sa.Text),
    )
    op.create_table(
        "catalog_dataset",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("depot", sa.String(64), nullable=False),
        sa.Column("collection", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("search_text", sa.Text, nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("stats", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("deleted_at", sa.String(32)),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.UniqueConstraint("source", "collection", "name", name="uq_catalog_dataset"),
    )
    op.create_table(
        "catalog_change",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("collection", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("run_id", sa.Integer),
        sa.Column("change", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_catalog_change_dataset", "catalog_change", ["source", "collection", "name"])
    op.create_table(
        "workflow_run",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("workspace", sa.String(64), nullable=False),
        sa.Column("workflow", sa.String(64), nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.String(32), nullable=False),
        sa.Column("finished_at", sa.String(32)),
        sa.Column("counts", sa.Text, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("nodes", sa.Text, nullable=False),
        sa.Column("log", sa.Text, nullable=False),
    )
    op.create_index("ix_workflow_run_workflow", "workflow_run", ["workspace", "workflow"])


def downgrade() -> None:
    for name in ("workflow_run", "catalog_change", "catalog_dataset", "catalog_source"):
        op.drop_table(name)
