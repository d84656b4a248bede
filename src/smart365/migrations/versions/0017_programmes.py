"""programmes: support calls (공고), applications, reviewers' scores, selection results

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 18:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def _company() -> sa.Column[int]:
    return sa.Column("company_id", sa.Integer(), sa.ForeignKey("companies.id", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "programme_calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("budget", sa.BigInteger(), nullable=False),
        sa.Column("cap", sa.BigInteger(), nullable=False),
        sa.Column("share_gov", sa.Integer(), nullable=False),
        sa.Column("share_partner", sa.Integer(), nullable=False),
        sa.Column("share_firm", sa.Integer(), nullable=False),
        sa.Column("eligibility", sa.JSON(), nullable=False),
        sa.Column("criteria", sa.JSON(), nullable=False),
        sa.Column("sobujang_quota", sa.Integer(), nullable=False),
        sa.Column("region_minimums", sa.JSON(), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("selection", sa.JSON(), nullable=False),
        sa.Column("selected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programme_calls")),
    )
    op.create_index(op.f("ix_programme_calls_state"), "programme_calls", ["state"])
    op.create_table(
        "programme_applications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), sa.ForeignKey("programme_calls.id", ondelete="CASCADE"), nullable=False),
        _company(),
        sa.Column("plan", sa.Text(), nullable=False),
        sa.Column("budget_lines", sa.JSON(), nullable=False),
        sa.Column("requested", sa.BigInteger(), nullable=False),
        sa.Column("kpis", sa.JSON(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("eligible", sa.Boolean(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("level", sa.Float(), nullable=True),
        sa.Column("priority", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programme_applications")),
        sa.UniqueConstraint("call_id", "company_id", name=op.f("uq_programme_applications_call_id")),
    )
    op.create_index(op.f("ix_programme_applications_call_id"), "programme_applications", ["call_id"])
    op.create_index(op.f("ix_programme_applications_company_id"), "programme_applications", ["company_id"])
    op.create_table(
        "programme_review_scores",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "application_id",
            sa.Integer(),
            sa.ForeignKey("programme_applications.id", ondelete="CASCADE"),
            nullable=False,
        ),
        _company(),
        sa.Column("reviewer_id", sa.Integer(), nullable=False),
        sa.Column("criterion", sa.String(length=40), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programme_review_scores")),
        sa.UniqueConstraint(
            "application_id", "reviewer_id", "criterion", name=op.f("uq_programme_review_scores_application_id")
        ),
    )
    op.create_index(op.f("ix_programme_review_scores_application_id"), "programme_review_scores", ["application_id"])
    op.create_index(op.f("ix_programme_review_scores_company_id"), "programme_review_scores", ["company_id"])
    op.create_table(
        "programme_selection_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), sa.ForeignKey("programme_calls.id", ondelete="CASCADE"), nullable=False),
        sa.Column(
            "application_id",
            sa.Integer(),
            sa.ForeignKey("programme_applications.id", ondelete="CASCADE"),
            nullable=False,
        ),
        _company(),
        sa.Column("selected", sa.Boolean(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("reason", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programme_selection_results")),
        sa.UniqueConstraint("application_id", name=op.f("uq_programme_selection_results_application_id")),
    )
    op.create_index(op.f("ix_programme_selection_results_call_id"), "programme_selection_results", ["call_id"])
    op.create_index(op.f("ix_programme_selection_results_company_id"), "programme_selection_results", ["company_id"])


def downgrade() -> None:
    for table in (
        "programme_selection_results",
        "programme_review_scores",
        "programme_applications",
        "programme_calls",
    ):
        op.drop_table(table)
