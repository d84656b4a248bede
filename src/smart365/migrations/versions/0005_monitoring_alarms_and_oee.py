"""monitoring: alarm rules, alarm events and OEE settings

Revision ID: 0005
Revises: 0004 (to be rechained onto 0004 when the parallel revisions 0003 and 0004 are merged)
Create Date: 2026-11-25 07:23:45.346469
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alarm_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("limit_value", sa.Float(), nullable=False),
        sa.Column("deadband", sa.Float(), nullable=False),
        sa.Column("delay_s", sa.Float(), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_alarm_rules_company_id_companies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["tag_id"], ["tags.id"], name=op.f("fk_alarm_rules_tag_id_tags"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarm_rules")),
    )
    with op.batch_alter_table("alarm_rules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alarm_rules_company_id"), ["company_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_alarm_rules_tag_id"), ["tag_id"], unique=False)

    op.create_table(
        "oee_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("equipment_id", sa.Integer(), nullable=False),
        sa.Column("ideal_cycle_s", sa.Float(), nullable=False),
        sa.Column("state_tag_id", sa.Integer(), nullable=True),
        sa.Column("reason_tag_id", sa.Integer(), nullable=True),
        sa.Column("count_tag_id", sa.Integer(), nullable=True),
        sa.Column("bad_tag_id", sa.Integer(), nullable=True),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["bad_tag_id"], ["tags.id"], name=op.f("fk_oee_settings_bad_tag_id_tags"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_oee_settings_company_id_companies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["count_tag_id"], ["tags.id"], name=op.f("fk_oee_settings_count_tag_id_tags"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["equipment_id"], ["equipment.id"], name=op.f("fk_oee_settings_equipment_id_equipment"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["reason_tag_id"], ["tags.id"], name=op.f("fk_oee_settings_reason_tag_id_tags"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["state_tag_id"], ["tags.id"], name=op.f("fk_oee_settings_state_tag_id_tags"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oee_settings")),
        sa.UniqueConstraint("equipment_id", name=op.f("uq_oee_settings_equipment_id")),
    )
    with op.batch_alter_table("oee_settings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oee_settings_company_id"), ["company_id"], unique=False)

    op.create_table(
        "alarm_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.Column("equipment_id", sa.Integer(), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("condition", sa.String(length=200), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("raised_value", sa.Float(), nullable=False),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cleared_value", sa.Float(), nullable=True),
        sa.Column("acked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acked_by_id", sa.Integer(), nullable=True),
        sa.Column("acked_by_name", sa.String(length=200), nullable=True),
        sa.Column("shelved_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("shelved_by_name", sa.String(length=200), nullable=True),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["acked_by_id"], ["users.id"], name=op.f("fk_alarm_events_acked_by_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_alarm_events_company_id_companies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["equipment_id"], ["equipment.id"], name=op.f("fk_alarm_events_equipment_id_equipment"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"], ["alarm_rules.id"], name=op.f("fk_alarm_events_rule_id_alarm_rules"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["tag_id"], ["tags.id"], name=op.f("fk_alarm_events_tag_id_tags"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarm_events")),
    )
    with op.batch_alter_table("alarm_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alarm_events_cleared_at"), ["cleared_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_alarm_events_company_id"), ["company_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_alarm_events_equipment_id"), ["equipment_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_alarm_events_raised_at"), ["raised_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_alarm_events_rule_id"), ["rule_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_alarm_events_tag_id"), ["tag_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("alarm_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alarm_events_tag_id"))
        batch_op.drop_index(batch_op.f("ix_alarm_events_rule_id"))
        batch_op.drop_index(batch_op.f("ix_alarm_events_raised_at"))
        batch_op.drop_index(batch_op.f("ix_alarm_events_equipment_id"))
        batch_op.drop_index(batch_op.f("ix_alarm_events_company_id"))
        batch_op.drop_index(batch_op.f("ix_alarm_events_cleared_at"))

    op.drop_table("alarm_events")
    with op.batch_alter_table("oee_settings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oee_settings_company_id"))

    op.drop_table("oee_settings")
    with op.batch_alter_table("alarm_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alarm_rules_tag_id"))
        batch_op.drop_index(batch_op.f("ix_alarm_rules_company_id"))

    op.drop_table("alarm_rules")
