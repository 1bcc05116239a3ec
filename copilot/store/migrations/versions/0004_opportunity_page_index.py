"""opportunities: newest-first index that also holds what the permission predicate reads

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 22:00:00

``ix_opp_recent (updated_at, id, owner_id, department_id)`` replaces ``ix_opp_updated (updated_at)``: a
manager's "newest deals I may see" walks it and tests owner and department on the index entry itself,
never reading a row it then rejects (bench/permissions.py, copilot.crm.permissions.page_select).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_opp_recent", "opportunities", ["updated_at", "id", "owner_id", "department_id"], unique=False
    )
    op.drop_index("ix_opp_updated", table_name="opportunities")


def downgrade() -> None:
    op.create_index("ix_opp_updated", "opportunities", ["updated_at"], unique=False)
    op.drop_index("ix_opp_recent", table_name="opportunities")
