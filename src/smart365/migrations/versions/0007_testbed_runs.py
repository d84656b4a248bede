"""testbed: AI test-bed runs

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 14:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "testbed_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("source_kind", sa.String(length=10), nullable=False),
        sa.Column("source", sa.String(length=500), nullable=False),
        sa.Column("source_spec", sa.JSON(), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("time_column", sa.String(length=200), nullable=True),
        sa.Column("task", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("step", sa.JSON(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("error_ko", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deployed_model_id", sa.Integer(), nullable=True),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_testbed_runs_company_id_companies"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_testbed_runs")),
    )
    with op.batch_alter_table("testbed_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_testbed_runs_company_id"), ["company_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_testbed_runs_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("testbed_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_testbed_runs_status"))
        batch_op.drop_index(batch_op.f("ix_testbed_runs_company_id"))

    op.drop_table("testbed_runs")
