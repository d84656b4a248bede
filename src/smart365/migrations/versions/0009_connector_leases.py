"""telemetry: connector leases and collector heartbeats (several workers share the connectors)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 20:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connector_leases",
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("connector", sa.String(length=700), nullable=False),
        sa.Column("holder", sa.String(length=100), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_connector_leases")),
    )
    op.create_index(op.f("ix_connector_leases_holder"), "connector_leases", ["holder"])
    op.create_table(
        "collector_heartbeats",
        sa.Column("holder", sa.String(length=100), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("holder", name=op.f("pk_collector_heartbeats")),
    )


def downgrade() -> None:
    op.drop_table("collector_heartbeats")
    op.drop_index(op.f("ix_connector_leases_holder"), table_name="connector_leases")
    op.drop_table("connector_leases")
