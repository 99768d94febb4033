"""Initial metastore: resources, references, data keys, secret material, audit, settings.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "resource",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("workspace", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("version", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("layer", sa.String(16), nullable=False),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("manifest", sa.Text, nullable=False),
        sa.Column("spec_hash", sa.String(64), nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("resource_version", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_message", sa.Text, nullable=False),
        sa.Column("source_type", sa.String(32)),
        sa.Column("source_path", sa.Text),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
        sa.UniqueConstraint("type", "workspace", "name", name="uq_resource_identity"),
    )
    op.create_index("ix_resource_owner", "resource", ["owner"])
    op.create_table(
        "resource_ref",
        sa.Column(
            "resource_id",
            sa.Integer,
            sa.ForeignKey("resource.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("ref_type", sa.String(32), primary_key=True),
        sa.Column("ref_name", sa.String(64), primary_key=True),
    )
    op.create_index("ix_resource_ref_target", "resource_ref", ["ref_type", "ref_name"])
    op.create_table(
        "data_key",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("master_key_id", sa.String(32), nullable=False),
        sa.Column("wrapped", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "secret_material",
        sa.Column(
            "resource_id",
            sa.Integer,
            sa.ForeignKey("resource.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("slot", sa.String(64), primary_key=True),
        sa.Column("acl", sa.String(4), nullable=False),
        sa.Column("secret_type", sa.String(32)),
        sa.Column("data_key_id", sa.Integer, sa.ForeignKey("data_key.id"), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary, nullable=False),
        sa.Column("keys", sa.Text, nullable=False),
        sa.Column("fingerprints", sa.Text, nullable=False),
    )
    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("resource_type", sa.String(32)),
        sa.Column("resource_name", sa.String(64)),
        sa.Column("purpose", sa.Text),
        sa.Column("detail", sa.Text),
    )
    op.create_index("ix_audit_event_resource", "audit_event", ["resource_type", "resource_name"])
    op.create_table(
        "store_setting",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for name in (
        "store_setting",
        "audit_event",
        "secret_material",
        "data_key",
        "resource_ref",
        "resource",
    ):
        op.drop_table(name)
