"""payments keyed by case and record: two loans paid under the same payment id both count

A payment id is unique within one payment system, not across loans; keyed by the record id
alone, the second loan's payment under the same id was taken for a retry of the first and
never stored. Every row is kept: each record id was unique on its own, so it is unique
within its case too.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_payments_by_case"
down_revision = "0004_borrower_channels"
branch_labels = None
depends_on = None

# PostgreSQL's own name for a table's primary key, kept so that a database made by these
# revisions and one made by `create_all` from tables.py name it alike.
PRIMARY_KEY = "payments_pkey"


def upgrade() -> None:
    _key_payments_by(["case_id", "record_id"])


def downgrade() -> None:
    bind = op.get_bind()
    shared = bind.execute(
        sa.text(
            "SELECT record_id FROM payments GROUP BY record_id HAVING count(*) > 1 "
            "ORDER BY record_id LIMIT 5"
        )
    ).scalars()
    repeated = list(shared)
    if repeated:
        # The older key cannot hold them; dropping a case's payment would lose money silently.
        raise RuntimeError(
            "cannot downgrade payments to one key per record id: cases share record ids "
            f"{', '.join(repeated)}"
        )
    _key_payments_by(["record_id"])


def _key_payments_by(columns: list[str]) -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        # SQLite cannot change a primary key in place: the table is copied into one of the
        # shape below, indexes and all. The shape is spelled out rather than reflected, because
        # a reflected table keeps its old key's columns marked as the key.
        with op.batch_alter_table(
            "payments", recreate="always", copy_from=_payments_table(columns)
        ):
            pass
        return
    # Whatever the key was named by the version that made the table.
    current = sa.inspect(bind).get_pk_constraint("payments")["name"] or PRIMARY_KEY
    op.drop_constraint(current, "payments", type_="primary")
    op.create_primary_key(PRIMARY_KEY, "payments", columns)


def _payments_table(key: list[str]) -> sa.Table:
    """The payments table as 0001_initial made it, keyed by `key`."""
    applied = sa.text("status = 'applied'")
    return sa.Table(
        "payments",
        sa.MetaData(),
        sa.Column("record_id", sa.String(length=200), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.Column("payment_id", sa.String(length=128), nullable=True),
        sa.Column("amount_minor", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=16), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("paid_at", sa.String(), nullable=True),
        sa.Column("source", sa.String(length=64), nullable=True),
        sa.Column("applied_minor", sa.BigInteger(), nullable=False),
        sa.Column("overpaid_minor", sa.BigInteger(), nullable=False),
        sa.Column("outstanding_after_minor", sa.BigInteger(), nullable=True),
        sa.Column("received_at", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint(*key, name=PRIMARY_KEY),
        sa.Index("ix_payments_case_id", "case_id"),
        sa.Index("ix_payments_loan_id", "loan_id"),
        sa.Index(
            "uq_payments_applied_payment_id",
            "case_id",
            "payment_id",
            unique=True,
            sqlite_where=applied,
            postgresql_where=applied,
        ),
    )
