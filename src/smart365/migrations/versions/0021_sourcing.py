"""sourcing (판로): buyers' needs, ranked suppliers, firms' capability profiles, answers and their pipeline

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 23:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def _company() -> sa.Column[int]:
    return sa.Column("company_id", sa.Integer(), sa.ForeignKey("companies.id", ondelete="CASCADE"), nullable=False)


def _need() -> sa.Column[int]:
    return sa.Column("need_id", sa.Integer(), sa.ForeignKey("sourcing_needs.id", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "sourcing_needs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("buyer", sa.String(length=200), nullable=False),
        sa.Column("posted_by", sa.Integer(), nullable=True),
        sa.Column("item", sa.String(length=200), nullable=False),
        sa.Column("material", sa.String(length=200), nullable=False),
        sa.Column("process", sa.String(length=200), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=True),
        sa.Column("certifications", sa.JSON(), nullable=False),
        sa.Column("region", sa.String(length=20), nullable=True),
        sa.Column("target_date", sa.Date(), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("matched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sourcing_needs")),
    )
    op.create_index(op.f("ix_sourcing_needs_posted_by"), "sourcing_needs", ["posted_by"])
    op.create_index(op.f("ix_sourcing_needs_state"), "sourcing_needs", ["state"])
    op.create_table(
        "sourcing_matches",
        sa.Column("id", sa.Integer(), nullable=False),
        _need(),
        sa.Column("supplier_id", sa.Integer(), sa.ForeignKey("companies.id", ondelete="CASCADE"), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("criteria", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sourcing_matches")),
        sa.UniqueConstraint("need_id", "supplier_id", name=op.f("uq_sourcing_matches_need_id")),
    )
    op.create_index(op.f("ix_sourcing_matches_need_id"), "sourcing_matches", ["need_id"])
    op.create_index(op.f("ix_sourcing_matches_supplier_id"), "sourcing_matches", ["supplier_id"])
    op.create_table(
        "sourcing_profiles",
        sa.Column("id", sa.Integer(), nullable=False),
        _company(),
        sa.Column("products", sa.JSON(), nullable=False),
        sa.Column("processes", sa.JSON(), nullable=False),
        sa.Column("materials", sa.JSON(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("certifications", sa.JSON(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("cpk", sa.Float(), nullable=True),
        sa.Column("fpy", sa.Float(), nullable=True),
        sa.Column("share_quality", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sourcing_profiles")),
        sa.UniqueConstraint("company_id", name=op.f("uq_sourcing_profiles_company_id")),
    )
    op.create_index(op.f("ix_sourcing_profiles_company_id"), "sourcing_profiles", ["company_id"])
    op.create_table(
        "sourcing_responses",
        sa.Column("id", sa.Integer(), nullable=False),
        _need(),
        _company(),
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("won", sa.BigInteger(), nullable=True),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sourcing_responses")),
        sa.UniqueConstraint("need_id", "company_id", name=op.f("uq_sourcing_responses_need_id")),
    )
    op.create_index(op.f("ix_sourcing_responses_need_id"), "sourcing_responses", ["need_id"])
    op.create_index(op.f("ix_sourcing_responses_company_id"), "sourcing_responses", ["company_id"])
    op.create_index(op.f("ix_sourcing_responses_stage"), "sourcing_responses", ["stage"])


def downgrade() -> None:
    for table in ("sourcing_responses", "sourcing_profiles", "sourcing_matches", "sourcing_needs"):
        op.drop_table(table)
