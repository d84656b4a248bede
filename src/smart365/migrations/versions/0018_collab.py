"""collab: offers over a firm's own data, agreements (Dataspace Protocol states), transfers and the
hash-chained usage log

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 18:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

# The usage log is append-only in the database too (as the audit log, 0008): UPDATE and DELETE are refused. Whoever
# drops the trigger to change a record anyway is caught by the hash chain (``smart365 collab verify``).
REFUSAL = "collab_usage_log is append-only"
PG_FUNCTION = f"""
CREATE FUNCTION collab_usage_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{REFUSAL}: % refused', TG_OP;
END
$$
"""
PG_TRIGGERS = (
    "CREATE TRIGGER collab_usage_log_no_change BEFORE UPDATE OR DELETE ON collab_usage_log "
    "FOR EACH ROW EXECUTE FUNCTION collab_usage_log_append_only()",
    "CREATE TRIGGER collab_usage_log_no_truncate BEFORE TRUNCATE ON collab_usage_log "
    "FOR EACH STATEMENT EXECUTE FUNCTION collab_usage_log_append_only()",
)
SQLITE_TRIGGERS = tuple(
    f"CREATE TRIGGER collab_usage_log_no_{op_name.lower()} BEFORE {op_name} ON collab_usage_log "
    f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}: {op_name} refused'); END"
    for op_name in ("UPDATE", "DELETE")
)


def upgrade() -> None:
    op.create_table(
        "collab_offers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("tag_ids", sa.JSON(), nullable=False),
        sa.Column("data_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"], name=op.f("fk_collab_offers_company_id_companies"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_collab_offers_created_by_users"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collab_offers")),
    )  # fmt: skip
    op.create_index(op.f("ix_collab_offers_company_id"), "collab_offers", ["company_id"])
    op.create_index(op.f("ix_collab_offers_state"), "collab_offers", ["state"])
    op.create_table(
        "collab_agreements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("offer_id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("consumer_kind", sa.String(length=10), nullable=False),
        sa.Column("consumer_user_id", sa.Integer(), nullable=True),
        sa.Column("consumer_company_id", sa.Integer(), nullable=True),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.Column("policy_sha256", sa.String(length=64), nullable=False),
        sa.Column("finalized_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("terminated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["offer_id"], ["collab_offers.id"],
                                name=op.f("fk_collab_agreements_offer_id_collab_offers"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["provider_id"], ["companies.id"],
                                name=op.f("fk_collab_agreements_provider_id_companies"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["consumer_user_id"], ["users.id"],
                                name=op.f("fk_collab_agreements_consumer_user_id_users"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["consumer_company_id"], ["companies.id"],
                                name=op.f("fk_collab_agreements_consumer_company_id_companies"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collab_agreements")),
    )  # fmt: skip
    for column in ("offer_id", "provider_id", "consumer_user_id", "state"):
        op.create_index(op.f(f"ix_collab_agreements_{column}"), "collab_agreements", [column])
    op.create_table(
        "collab_transfers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rows", sa.BigInteger(), nullable=True),
        sa.Column("bytes", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["agreement_id"], ["collab_agreements.id"],
                                name=op.f("fk_collab_transfers_agreement_id_collab_agreements"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_collab_transfers_user_id_users"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collab_transfers")),
    )  # fmt: skip
    op.create_index(op.f("ix_collab_transfers_agreement_id"), "collab_transfers", ["agreement_id"])
    op.create_table(
        "collab_usage_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("at_us", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("offer_id", sa.Integer(), nullable=True),
        sa.Column("agreement_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=254), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collab_usage_log")),
        sa.UniqueConstraint("company_id", "seq", name=op.f("uq_collab_usage_log_company_id")),
    )
    for column in ("at_us", "offer_id", "agreement_id"):
        op.create_index(op.f(f"ix_collab_usage_log_{column}"), "collab_usage_log", [column])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        for statement in PG_TRIGGERS:
            op.execute(statement)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    for table in ("collab_usage_log", "collab_transfers", "collab_agreements", "collab_offers"):
        op.drop_table(table)  # the log's triggers go with it
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION collab_usage_log_append_only()")
