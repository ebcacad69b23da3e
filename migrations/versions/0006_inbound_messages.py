"""inbound_messages: what the webhooks applied, each message once and opt-outs in order;
borrower_channels: a mark belongs to the address (recipient) it was found for

A mark made before gets the borrower's address on record for its channel (the one it was found
for, unless the details changed since); "" where the borrower has none (see
activities/borrower_channels.py for what such a mark means).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_inbound_messages"
down_revision = "0005_payments_by_case"
branch_labels = None
depends_on = None

# Built beside the old table, filled from it, then put in its place: the key gains a column,
# which SQLite cannot alter in place.
NEW_TABLE = "borrower_channels_0006"
OLD_TABLE = "borrower_channels_0004"

COPY_WITH_RECIPIENT = f"""
INSERT INTO {NEW_TABLE} (borrower_id, channel, recipient, state, source, reason, at)
SELECT c.borrower_id, c.channel,
       COALESCE(CASE c.channel WHEN 'sms' THEN b.phone
                               WHEN 'email' THEN b.email
                               WHEN 'letter' THEN b.address END, ''),
       c.state, c.source, c.reason, c.at
FROM borrower_channels c LEFT JOIN borrowers b ON b.borrower_id = c.borrower_id
"""

# Back to one row per borrower and channel: an opt-out (of any address) before an
# undeliverable mark ('opted_out' < 'undeliverable'), the latest of them.
COPY_WITHOUT_RECIPIENT = f"""
INSERT INTO {OLD_TABLE} (borrower_id, channel, state, source, reason, at)
SELECT c.borrower_id, c.channel, c.state, c.source, c.reason, c.at
FROM borrower_channels c
WHERE NOT EXISTS (
    SELECT 1 FROM borrower_channels o
    WHERE o.borrower_id = c.borrower_id AND o.channel = c.channel
      AND (o.state < c.state
           OR (o.state = c.state AND (o.at > c.at
                                      OR (o.at = c.at AND o.recipient > c.recipient))))
)
"""


def upgrade() -> None:
    op.create_table(
        "inbound_messages",
        sa.Column("message_key", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("recipient", sa.String(), nullable=True),
        sa.Column("intent", sa.String(length=16), nullable=True),
        sa.Column("said_at", sa.String(), nullable=False),
        sa.Column("received_at", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("message_key"),
    )
    op.create_index(
        "ix_inbound_messages_word",
        "inbound_messages",
        ["channel", "recipient", "said_at"],
        unique=False,
    )

    op.create_table(
        NEW_TABLE,
        sa.Column("borrower_id", sa.String(length=128), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("recipient", sa.String(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("borrower_id", "channel", "recipient"),
    )
    op.execute(COPY_WITH_RECIPIENT)
    op.drop_table("borrower_channels")
    op.rename_table(NEW_TABLE, "borrower_channels")
    _rename_primary_key(NEW_TABLE)


def downgrade() -> None:
    op.create_table(
        OLD_TABLE,
        sa.Column("borrower_id", sa.String(length=128), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("borrower_id", "channel"),
    )
    op.execute(COPY_WITHOUT_RECIPIENT)
    op.drop_table("borrower_channels")
    op.rename_table(OLD_TABLE, "borrower_channels")
    _rename_primary_key(OLD_TABLE)

    op.drop_index("ix_inbound_messages_word", table_name="inbound_messages")
    op.drop_table("inbound_messages")


def _rename_primary_key(built_as: str) -> None:
    """PostgreSQL names a primary key after the table it was made for: give it the name the
    table would have had from the start (SQLite's are nameless)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"ALTER TABLE borrower_channels RENAME CONSTRAINT {built_as}_pkey "
            "TO borrower_channels_pkey"
        )
