"""opportunity_visibility: who sees each deal through the org chart (a closure kept by the policy)

Revision ID: 0008
Revises: 0005
Create Date: 2026-12-02 01:30:00

``opportunity_visibility (viewer, updated_at, opportunity_id)``: one row per deal and per user who sees it
as owner, related-team member, someone above either in the line-manager chain, or head of its department
or one above it (and per sharing-rule source department above it, as minus its id). A manager's "newest
deals I may see" is then one index range (copilot.crm.permissions.page_select, bench/permissions.py).
``opportunity_visibility_state`` says whether it is complete: it starts empty (not trusted) until
``copilot.crm.permissions.rebuild_visibility`` fills it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "opportunity_visibility",
        sa.Column("viewer", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("opportunity_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("viewer", "updated_at", "opportunity_id"),
    )
    op.create_index(
        "ix_opportunity_visibility_opportunity_id", "opportunity_visibility", ["opportunity_id"], unique=False
    )
    op.create_table(
        "opportunity_visibility_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("fresh", sa.Boolean(), nullable=False),
        sa.Column("sources", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("opportunity_visibility_state")
    op.drop_index("ix_opportunity_visibility_opportunity_id", table_name="opportunity_visibility")
    op.drop_table("opportunity_visibility")
