"""strategy: the segment a case was opened with and the experiment arm routing chose

`starter.py report --experiment` compares arms from these columns alone. A case prepared
before routing has none (NULL): it was collected under its own policy, in no experiment.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_strategy"
down_revision = "0010_portal"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch_op:
        batch_op.add_column(sa.Column("segment", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("experiment", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("arm", sa.String(length=16), nullable=True))
        batch_op.create_index("ix_cases_experiment", ["experiment"])


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch_op:
        batch_op.drop_index("ix_cases_experiment")
        batch_op.drop_column("arm")
        batch_op.drop_column("experiment")
        batch_op.drop_column("segment")
