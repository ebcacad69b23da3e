"""attempt_send_state: each contact attempt records the sends it began (so a retry asks the
provider before sending again) and the provider's Retry-After moment."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_attempt_send_state"
down_revision = "0006_inbound_messages"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contact_attempts") as batch_op:
        batch_op.add_column(
            sa.Column("send_tries", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("send_started_at", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("provider_not_before", sa.String(), nullable=True))
    # An attempt still pending or unconfirmed from before this revision may have reached its
    # provider: its next try looks there first, from the moment the attempt was recorded.
    op.execute(
        sa.text(
            "UPDATE contact_attempts SET send_tries = 1, send_started_at = created_at "
            "WHERE status IN ('pending', 'unconfirmed')"
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("contact_attempts") as batch_op:
        batch_op.drop_column("provider_not_before")
        batch_op.drop_column("send_started_at")
        batch_op.drop_column("send_tries")
