"""debt_by_part: a payment's allocation and a case's balance, part by part

Each payment records what it paid off of principal, interest, fees and penalty; each case its
outstanding amount by part as of its latest decision. Every row is kept: a payment recorded
before has no allocation and a case no balance by part (NULL), since neither was recorded and
the database cannot tell them (the report counts such a payment as principal, and such a case's
outstanding amount too, as the case did before debts had parts). A case's next snapshot fills
its balance.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_debt_by_part"
down_revision = "0007_attempt_send_state"
branch_labels = None
depends_on = None

PART_COLUMNS = ("principal_minor", "interest_minor", "fees_minor", "penalty_minor")


def upgrade() -> None:
    with op.batch_alter_table("payments") as batch_op:
        for column in PART_COLUMNS:
            batch_op.add_column(sa.Column(column, sa.BigInteger(), nullable=True))
    with op.batch_alter_table("cases") as batch_op:
        for column in PART_COLUMNS:
            batch_op.add_column(sa.Column(column, sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("balance_as_of", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch_op:
        batch_op.drop_column("balance_as_of")
        for column in reversed(PART_COLUMNS):
            batch_op.drop_column(column)
    with op.batch_alter_table("payments") as batch_op:
        for column in reversed(PART_COLUMNS):
            batch_op.drop_column(column)
