"""Every table of the case database as `create_all` made it before there were migrations.

A database made that way (tables, no alembic_version) is adopted as this revision by
`migrations.legacy` rather than created again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

APPLIED = sa.text("status = 'applied'")


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("workflow_id", sa.String(length=128), nullable=False),
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.Column("borrower_id", sa.String(length=128), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("overdue_amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("due_date", sa.String(length=10), nullable=False),
        sa.Column("policy", sa.String(length=64), nullable=False),
        sa.Column("portfolio", sa.String(length=64), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("days_past_due", sa.Integer(), nullable=False),
        sa.Column("outstanding_minor", sa.BigInteger(), nullable=False),
        sa.Column("paid_minor", sa.BigInteger(), nullable=False),
        sa.Column("planned_ladder", sa.Text(), nullable=False),
        sa.Column("opened_at", sa.String(), nullable=False),
        sa.Column("updated_at", sa.String(), nullable=False),
        sa.Column("closed_at", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("case_id"),
    )
    op.create_index("ix_cases_workflow_id", "cases", ["workflow_id"])
    op.create_index("ix_cases_loan_id", "cases", ["loan_id"])

    op.create_table(
        "contact_attempts",
        sa.Column("attempt_id", sa.String(length=200), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("template", sa.String(length=64), nullable=False),
        sa.Column("recipient", sa.String(), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("provider_ref", sa.String(), nullable=True),
        sa.Column("days_past_due", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.String(), nullable=False),
        sa.Column("sent_at", sa.String(), nullable=True),
        sa.Column("result", sa.String(length=32), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("attempt_id"),
    )
    op.create_index("ix_contact_attempts_case_id", "contact_attempts", ["case_id"])
    op.create_index("ix_contact_attempts_loan_id", "contact_attempts", ["loan_id"])

    op.create_table(
        "payments",
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
        sa.PrimaryKeyConstraint("record_id"),
    )
    op.create_index("ix_payments_case_id", "payments", ["case_id"])
    op.create_index("ix_payments_loan_id", "payments", ["loan_id"])
    op.create_index(
        "uq_payments_applied_payment_id",
        "payments",
        ["case_id", "payment_id"],
        unique=True,
        sqlite_where=APPLIED,
        postgresql_where=APPLIED,
    )

    op.create_table(
        "work_items",
        sa.Column("work_item_id", sa.String(length=200), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.Column("queue", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.String(), nullable=False),
        sa.Column("due_at", sa.String(), nullable=False),
        sa.Column("completed_at", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("work_item_id"),
    )
    op.create_index("ix_work_items_case_id", "work_items", ["case_id"])
    op.create_index("ix_work_items_loan_id", "work_items", ["loan_id"])
    op.create_index("ix_work_items_queue", "work_items", ["queue"])
    op.create_index("ix_work_items_status", "work_items", ["status"])

    op.create_table(
        "field_visits",
        sa.Column("visit_id", sa.String(length=200), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.Column("staff_count", sa.Integer(), nullable=False),
        sa.Column("scheduled_for", sa.String(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("completed_at", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("visit_id"),
    )
    op.create_index("ix_field_visits_case_id", "field_visits", ["case_id"])
    op.create_index("ix_field_visits_loan_id", "field_visits", ["loan_id"])

    op.create_table(
        "legal_referrals",
        sa.Column("referral_id", sa.String(length=200), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.Column("evidence_dir", sa.String(), nullable=False),
        sa.Column("manifest_sha256", sa.String(length=64), nullable=False),
        sa.Column("files", sa.Text(), nullable=False),
        sa.Column("created_at", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("referral_id"),
    )
    op.create_index("ix_legal_referrals_case_id", "legal_referrals", ["case_id"])
    op.create_index("ix_legal_referrals_loan_id", "legal_referrals", ["loan_id"])

    op.create_table(
        "case_events",
        sa.Column("event_key", sa.String(length=300), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("ref_id", sa.String(length=128), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("at", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("event_key"),
    )
    op.create_index("ix_case_events_case_id", "case_events", ["case_id"])
    op.create_index("ix_case_events_loan_id", "case_events", ["loan_id"])


def downgrade() -> None:
    # Dropping a table drops its indexes.
    for table in (
        "case_events",
        "legal_referrals",
        "field_visits",
        "work_items",
        "payments",
        "contact_attempts",
        "cases",
    ):
        op.drop_table(table)
