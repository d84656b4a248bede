"""analytics: model registry (analytics_models); alarm events from anomaly models

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "analytics_models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("equipment_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("tag_ids", sa.JSON(), nullable=False),
        sa.Column("trained_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trained_to", sa.DateTime(timezone=True), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("state", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("deployed_by", sa.String(length=200), nullable=True),
        sa.Column("deployed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_analytics_models_company_id_companies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["equipment_id"],
            ["equipment.id"],
            name=op.f("fk_analytics_models_equipment_id_equipment"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_models")),
        sa.UniqueConstraint("equipment_id", "name", "version", name="uq_analytics_models_version"),
    )
    with op.batch_alter_table("analytics_models", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_analytics_models_company_id"), ["company_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_analytics_models_equipment_id"), ["equipment_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_analytics_models_status"), ["status"], unique=False)

    with op.batch_alter_table("alarm_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("model_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("explanation", sa.JSON(), nullable=True))
        batch_op.alter_column("rule_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_index(batch_op.f("ix_alarm_events_model_id"), ["model_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_alarm_events_model_id_analytics_models"),
            "analytics_models",
            ["model_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    with op.batch_alter_table("alarm_events", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_alarm_events_model_id_analytics_models"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_alarm_events_model_id"))
        batch_op.execute("DELETE FROM alarm_events WHERE rule_id IS NULL")
        batch_op.alter_column("rule_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("explanation")
        batch_op.drop_column("model_id")

    with op.batch_alter_table("analytics_models", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_analytics_models_status"))
        batch_op.drop_index(batch_op.f("ix_analytics_models_equipment_id"))
        batch_op.drop_index(batch_op.f("ix_analytics_models_company_id"))

    op.drop_table("analytics_models")
