"""correction policy: what a firm's store does with a point re-sent with another value

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 21:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("companies") as batch:
        batch.add_column(sa.Column("correction_policy", sa.String(12), nullable=False, server_default="keep_first"))


def downgrade() -> None:
    with op.batch_alter_table("companies") as batch:
        batch.drop_column("correction_policy")
