"""notifications: where a firm's alarms are sent (webhooks, e-mail) and each delivery with its retries

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 18:00:00.000000
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def _owned(table: str) -> list[Any]:
    return [
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f(f"fk_{table}_company_id_companies"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    ]


def upgrade() -> None:
    op.create_table(
        "notification_channels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("target", sa.String(length=1000), nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=True),
        sa.Column("min_severity", sa.String(length=10), nullable=False),
        sa.Column("on_clear", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        *_owned("notification_channels"),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_notification_channels_company_id"), "notification_channels", ["company_id"])
    op.create_table(
        "notification_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("transition", sa.String(length=10), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        *_owned("notification_deliveries"),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["notification_channels.id"],
            name=op.f("fk_notification_deliveries_channel_id_notification_channels"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["alarm_events.id"],
            name=op.f("fk_notification_deliveries_event_id_alarm_events"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("channel_id", "event_id", "transition", name=op.f("uq_notification_deliveries_channel_id")),
        sqlite_autoincrement=True,
    )
    for column in ("company_id", "channel_id", "event_id", "state", "next_at"):
        op.create_index(op.f(f"ix_notification_deliveries_{column}"), "notification_deliveries", [column])


def downgrade() -> None:
    op.drop_table("notification_deliveries")
    op.drop_table("notification_channels")
