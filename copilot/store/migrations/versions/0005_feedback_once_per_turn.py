"""feedback: one rating per user per turn (changeable); idempotency keys for retried writes

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 23:00:00

Existing duplicate ratings of one turn by one user are folded into the latest before the unique index
is built (the latest is what the user meant last).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "DELETE FROM feedback WHERE id NOT IN "
        "(SELECT keep FROM (SELECT MAX(id) AS keep FROM feedback GROUP BY trace_id, user_id) AS latest)"
    )
    op.add_column("feedback", sa.Column("updated_at", sa.DateTime(), nullable=True))
    op.create_index("ux_feedback_turn_user", "feedback", ["trace_id", "user_id"], unique=True)
    op.create_table(
        "idempotent_writes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ux_idempotent_user_key", "idempotent_writes", ["user_id", "key"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_idempotent_user_key", table_name="idempotent_writes")
    op.drop_table("idempotent_writes")
    op.drop_index("ux_feedback_turn_user", table_name="feedback")
    with op.batch_alter_table("feedback") as batch:
        batch.drop_column("updated_at")
