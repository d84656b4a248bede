"""fleet: what plants forward to the centre (rollups partitioned by time on PostgreSQL, tags, alarms, OEE per
shift, AI models, measured evidence, plants)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 15:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def _rollup(name: str) -> None:
    # the partitions themselves are made ahead of time by the centre workers (smart365.fleet.partitions)
    op.create_table(
        name,
        sa.Column("brn", sa.String(length=10), nullable=False),
        sa.Column("plant", sa.String(length=32), nullable=False),
        sa.Column("tag_id", sa.BigInteger(), nullable=False),
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("avg", sa.Float(), nullable=False),
        sa.Column("vmin", sa.Float(), nullable=False),
        sa.Column("vmax", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("brn", "plant", "tag_id", "bucket", name=op.f(f"pk_{name}")),
        postgresql_partition_by="RANGE (bucket)",
    )


def upgrade() -> None:
    _rollup("fleet_rollup_1m")
    _rollup("fleet_rollup_1h")
    op.create_table(
        "fleet_tags",
        sa.Column("brn", sa.String(length=10), nullable=False),
        sa.Column("plant", sa.String(length=32), nullable=False),
        sa.Column("tag_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("unit", sa.String(length=30), nullable=True),
        sa.Column("equipment", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("brn", "plant", "tag_id", name=op.f("pk_fleet_tags")),
    )
    op.create_table(
        "fleet_alarms",
        sa.Column("brn", sa.String(length=10), nullable=False),
        sa.Column("plant", sa.String(length=32), nullable=False),
        sa.Column("alarm_id", sa.BigInteger(), nullable=False),
        sa.Column("tag_id", sa.BigInteger(), nullable=False),
        sa.Column("equipment", sa.String(length=200), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("condition", sa.String(length=200), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("brn", "plant", "alarm_id", name=op.f("pk_fleet_alarms")),
    )
    op.create_index(op.f("ix_fleet_alarms_raised_at"), "fleet_alarms", ["raised_at"])
    op.create_table(
        "fleet_oee",
        sa.Column("brn", sa.String(length=10), nullable=False),
        sa.Column("plant", sa.String(length=32), nullable=False),
        sa.Column("equipment_id", sa.BigInteger(), nullable=False),
        sa.Column("shift_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("equipment", sa.String(length=200), nullable=False),
        sa.Column("shift", sa.String(length=200), nullable=False),
        *(sa.Column(name, sa.Float(), nullable=True) for name in ("availability", "performance", "quality", "oee")),
        *(sa.Column(name, sa.Float(), nullable=False) for name in ("parts", "good", "planned_s", "run_s")),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("brn", "plant", "equipment_id", "shift_start", name=op.f("pk_fleet_oee")),
    )
    op.create_table(
        "fleet_models",
        sa.Column("brn", sa.String(length=10), nullable=False),
        sa.Column("plant", sa.String(length=32), nullable=False),
        sa.Column("model_id", sa.BigInteger(), nullable=False),
        sa.Column("equipment", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=200), nullable=False),
        sa.Column("deployed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("brn", "plant", "model_id", name=op.f("pk_fleet_models")),
    )
    op.create_table(
        "fleet_evidence",
        sa.Column("brn", sa.String(length=10), nullable=False),
        sa.Column("plant", sa.String(length=32), nullable=False),
        sa.Column("item_id", sa.String(length=200), nullable=False),
        sa.Column("stage", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("brn", "plant", "item_id", name=op.f("pk_fleet_evidence")),
    )
    op.create_table(
        "fleet_plants",
        sa.Column("brn", sa.String(length=10), nullable=False),
        sa.Column("plant", sa.String(length=32), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("brn", "plant", name=op.f("pk_fleet_plants")),
    )
    op.create_table(
        "fleet_dead_letters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fleet_dead_letters")),
    )
    op.create_index(op.f("ix_fleet_dead_letters_received_at"), "fleet_dead_letters", ["received_at"])


def downgrade() -> None:
    for table in (
        "fleet_dead_letters",
        "fleet_plants",
        "fleet_alarms",
        "fleet_tags",
        "fleet_rollup_1h",
        "fleet_rollup_1m",
    ):
        op.drop_table(table)
