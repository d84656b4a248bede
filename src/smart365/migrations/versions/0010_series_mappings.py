"""telemetry: series of InfluxDB-compatible clients mapped to tags, and the firm's new-signal inbox

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 23:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "series_mappings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("series", sa.String(length=1000), nullable=False),
        sa.Column("series_sha256", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=True),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("assigned_by_name", sa.String(length=254), nullable=True),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_series_mappings_company_id_companies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tags.id"], name=op.f("fk_series_mappings_tag_id_tags"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_series_mappings")),
        sa.UniqueConstraint("company_id", "series_sha256", name=op.f("uq_series_mappings_company_id")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_series_mappings_company_id"), "series_mappings", ["company_id"])
    op.create_index(op.f("ix_series_mappings_tag_id"), "series_mappings", ["tag_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_series_mappings_tag_id"), table_name="series_mappings")
    op.drop_index(op.f("ix_series_mappings_company_id"), table_name="series_mappings")
    op.drop_table("series_mappings")
