"""portal: the borrower's links, one-time codes, rate-limit events and link secret

The borrower's portal's own tables (see migrations/portal_tables.py). New tables only:
nothing of the case database changes, and a downgrade drops them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_portal"
down_revision = "0009_desk"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "portal_secrets",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "portal_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("link_id", sa.String(length=32), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("attempt_id", sa.String(length=200), nullable=False),
        sa.Column("sent_at", sa.String(), nullable=False),
        sa.Column("expires_at", sa.String(), nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("used_at", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("portal_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_portal_codes_link_id"), ["link_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_portal_codes_sent_at"), ["sent_at"], unique=False)

    op.create_table(
        "portal_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("link_id", sa.String(length=32), nullable=False),
        sa.Column("case_id", sa.String(length=128), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("at", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("portal_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_portal_events_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_portal_events_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_portal_events_client"), ["client"], unique=False)
        batch_op.create_index(batch_op.f("ix_portal_events_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_portal_events_link_id"), ["link_id"], unique=False)

    op.create_table(
        "portal_links",
        sa.Column("link_id", sa.String(length=32), nullable=False),
        sa.Column("case_id", sa.String(length=128), nullable=False),
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.Column("attempt_id", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.String(), nullable=False),
        sa.Column("expires_at", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("link_id"),
        sa.UniqueConstraint("attempt_id"),
    )
    with op.batch_alter_table("portal_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_portal_links_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_portal_links_loan_id"), ["loan_id"], unique=False)


def downgrade() -> None:
    op.drop_table("portal_secrets")
    with op.batch_alter_table("portal_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portal_links_loan_id"))
        batch_op.drop_index(batch_op.f("ix_portal_links_case_id"))

    op.drop_table("portal_links")
    with op.batch_alter_table("portal_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portal_events_link_id"))
        batch_op.drop_index(batch_op.f("ix_portal_events_kind"))
        batch_op.drop_index(batch_op.f("ix_portal_events_client"))
        batch_op.drop_index(batch_op.f("ix_portal_events_case_id"))
        batch_op.drop_index(batch_op.f("ix_portal_events_at"))

    op.drop_table("portal_events")
    with op.batch_alter_table("portal_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portal_codes_sent_at"))
        batch_op.drop_index(batch_op.f("ix_portal_codes_link_id"))

    op.drop_table("portal_codes")
