"""desk: the collectors' desk's own tables

Users, sessions, failed sign-ins, claims on borrowers, the log of views of personal data, the
assignment rota and settlements awaiting a supervisor (see migrations/desk_tables.py). New
tables only: nothing of the case database changes, and a downgrade drops them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_desk"
down_revision = "0008_debt_by_part"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "desk_assignments",
        sa.Column("request_id", sa.String(length=128), nullable=False),
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.Column("team", sa.String(length=64), nullable=False),
        sa.Column("user_name", sa.String(length=64), nullable=False),
        sa.Column("assigned_by", sa.String(length=64), nullable=False),
        sa.Column("assigned_at", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("request_id"),
    )
    with op.batch_alter_table("desk_assignments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_desk_assignments_assigned_at"), ["assigned_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_desk_assignments_loan_id"), ["loan_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_desk_assignments_team"), ["team"], unique=False)

    op.create_table(
        "desk_claims",
        sa.Column("borrower_id", sa.String(length=128), nullable=False),
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.Column("attempt_id", sa.String(length=128), nullable=False),
        sa.Column("user_name", sa.String(length=64), nullable=False),
        sa.Column("claimed_at", sa.String(), nullable=False),
        sa.Column("expires_at", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("borrower_id"),
    )
    with op.batch_alter_table("desk_claims", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_desk_claims_loan_id"), ["loan_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_desk_claims_user_name"), ["user_name"], unique=False)

    op.create_table(
        "desk_sessions",
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("user_name", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.String(), nullable=False),
        sa.Column("expires_at", sa.String(), nullable=False),
        sa.Column("ended_at", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("session_id"),
    )
    with op.batch_alter_table("desk_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_desk_sessions_user_name"), ["user_name"], unique=False)

    op.create_table(
        "desk_settlement_requests",
        sa.Column("request_id", sa.String(length=128), nullable=False),
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("due_date", sa.String(length=10), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("requested_at", sa.String(), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=False),
        sa.Column("decided_at", sa.String(), nullable=True),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("request_id"),
    )
    with op.batch_alter_table("desk_settlement_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_desk_settlement_requests_loan_id"), ["loan_id"], unique=False
        )

    op.create_table(
        "desk_sign_in_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_name", sa.String(length=64), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("failed_at", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("desk_sign_in_failures", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_desk_sign_in_failures_client"), ["client"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_desk_sign_in_failures_failed_at"), ["failed_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_desk_sign_in_failures_user_name"), ["user_name"], unique=False
        )

    op.create_table(
        "desk_users",
        sa.Column("user_name", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("buckets", sa.String(length=128), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.String(), nullable=False),
        sa.Column("updated_at", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("user_name"),
    )
    op.create_table(
        "desk_views",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_name", sa.String(length=64), nullable=False),
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.Column("page", sa.String(length=32), nullable=False),
        sa.Column("viewed_at", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("desk_views", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_desk_views_loan_id"), ["loan_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_desk_views_user_name"), ["user_name"], unique=False)
        batch_op.create_index(batch_op.f("ix_desk_views_viewed_at"), ["viewed_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("desk_views", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_desk_views_viewed_at"))
        batch_op.drop_index(batch_op.f("ix_desk_views_user_name"))
        batch_op.drop_index(batch_op.f("ix_desk_views_loan_id"))

    op.drop_table("desk_views")
    op.drop_table("desk_users")
    with op.batch_alter_table("desk_sign_in_failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_desk_sign_in_failures_user_name"))
        batch_op.drop_index(batch_op.f("ix_desk_sign_in_failures_failed_at"))
        batch_op.drop_index(batch_op.f("ix_desk_sign_in_failures_client"))

    op.drop_table("desk_sign_in_failures")
    with op.batch_alter_table("desk_settlement_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_desk_settlement_requests_loan_id"))

    op.drop_table("desk_settlement_requests")
    with op.batch_alter_table("desk_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_desk_sessions_user_name"))

    op.drop_table("desk_sessions")
    with op.batch_alter_table("desk_claims", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_desk_claims_user_name"))
        batch_op.drop_index(batch_op.f("ix_desk_claims_loan_id"))

    op.drop_table("desk_claims")
    with op.batch_alter_table("desk_assignments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_desk_assignments_team"))
        batch_op.drop_index(batch_op.f("ix_desk_assignments_loan_id"))
        batch_op.drop_index(batch_op.f("ix_desk_assignments_assigned_at"))

    op.drop_table("desk_assignments")
