"""collab benchmarks: the give-to-get peer-benchmark pool (which firm joined, when, which KPIs), its releases
(one per group and membership, with the PROV bundle) and the per-firm privacy budget ledger

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 23:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "collab_bench_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("kpis", sa.JSON(), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("figures_sha256", sa.String(length=64), nullable=False),
        sa.Column("joined_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"],
                                name=op.f("fk_collab_bench_members_company_id_companies"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["joined_by"], ["users.id"], name=op.f("fk_collab_bench_members_joined_by_users"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collab_bench_members")),
        sa.UniqueConstraint("company_id", name=op.f("uq_collab_bench_members_company_id")),
    )  # fmt: skip
    op.create_index(op.f("ix_collab_bench_members_company_id"), "collab_bench_members", ["company_id"])
    op.create_index(op.f("ix_collab_bench_members_active"), "collab_bench_members", ["active"])
    op.create_table(
        "collab_bench_releases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_key", sa.String(length=200), nullable=False),
        sa.Column("level", sa.String(length=30), nullable=False),
        sa.Column("firms", sa.Integer(), nullable=False),
        sa.Column("membership_sha256", sa.String(length=64), nullable=False),
        sa.Column("cells", sa.JSON(), nullable=False),
        sa.Column("prov", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collab_bench_releases")),
        sa.UniqueConstraint("group_key", "membership_sha256", name=op.f("uq_collab_bench_releases_group_key")),
    )
    op.create_index(op.f("ix_collab_bench_releases_group_key"), "collab_bench_releases", ["group_key"])
    op.create_table(
        "collab_bench_budget",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("release_id", sa.Integer(), nullable=False),
        sa.Column("kpi", sa.String(length=60), nullable=False),
        sa.Column("epsilon", sa.Float(), nullable=False),
        sa.Column("spent_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"],
                                name=op.f("fk_collab_bench_budget_company_id_companies"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["release_id"], ["collab_bench_releases.id"],
                                name=op.f("fk_collab_bench_budget_release_id_collab_bench_releases"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collab_bench_budget")),
    )  # fmt: skip
    op.create_index(op.f("ix_collab_bench_budget_company_id"), "collab_bench_budget", ["company_id"])
    op.create_index(op.f("ix_collab_bench_budget_release_id"), "collab_bench_budget", ["release_id"])


def downgrade() -> None:
    for table in ("collab_bench_budget", "collab_bench_releases", "collab_bench_members"):
        op.drop_table(table)
