"""Delivery receipts: what the provider reported after a send, on each contact attempt."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_delivery_receipts"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Batch mode: SQLite alters a table only by copying it, where an operation needs that.
    with op.batch_alter_table("contact_attempts") as batch_op:
        batch_op.add_column(sa.Column("delivery_status", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("delivery_updated_at", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contact_attempts") as batch_op:
        batch_op.drop_column("delivery_updated_at")
        batch_op.drop_column("delivery_status")
