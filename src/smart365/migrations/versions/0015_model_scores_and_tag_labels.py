"""analytics: each deployed model's latest live score, for the machine page; registry: a tag's display name

Revision ID: 0015
Revises: 0010
Create Date: 2026-12-07 03:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_scores",
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_model_scores_company_id_companies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["model_id"], ["analytics_models.id"], name=op.f("fk_model_scores_model_id_analytics_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("model_id", name=op.f("pk_model_scores")),
    )
    op.create_index(op.f("ix_model_scores_company_id"), "model_scores", ["company_id"])
    with op.batch_alter_table("tags") as batch:
        batch.add_column(sa.Column("display_name", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tags") as batch:
        batch.drop_column("display_name")
    op.drop_index(op.f("ix_model_scores_company_id"), table_name="model_scores")
    op.drop_table("model_scores")
