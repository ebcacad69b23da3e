"""borrower_channels: opted-out and undeliverable channels across a borrower's loans; receipts
find attempts by provider_ref."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_borrower_channels"
down_revision = "0003_borrowers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "borrower_channels",
        sa.Column("borrower_id", sa.String(length=128), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("borrower_id", "channel"),
    )
    with op.batch_alter_table("contact_attempts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contact_attempts_provider_ref"), ["provider_ref"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("contact_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_attempts_provider_ref"))

    op.drop_table("borrower_channels")
