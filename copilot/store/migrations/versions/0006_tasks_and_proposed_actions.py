"""tasks (a CRM object: to-dos with a due date) and the actions answers propose until a person confirms them

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 01:30:00

Ticket replies need no table of their own: a confirmed reply is a ticket_messages row (author_kind agent).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("priority", sa.String(length=10), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("opportunity_id", sa.Integer(), nullable=True),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("partner_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["department_id"], ["departments.id"]),
        sa.ForeignKeyConstraint(["opportunity_id"], ["opportunities.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["partner_id"], ["partners.id"]),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    for column in ("account_id", "department_id", "due_date", "opportunity_id", "owner_id", "partner_id", "status",
                   "ticket_id"):
        op.create_index(op.f(f"ix_tasks_{column}"), "tasks", [column], unique=False)
    op.create_table(
        "proposed_actions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("trace_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("operation", sa.String(length=30), nullable=True),
        sa.Column("object_type", sa.String(length=40), nullable=True),
        sa.Column("object_id", sa.Integer(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("result_type", sa.String(length=40), nullable=True),
        sa.Column("result_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_proposed_actions_trace_id"), "proposed_actions", ["trace_id"], unique=False)
    op.create_index(op.f("ix_proposed_actions_user_id"), "proposed_actions", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_proposed_actions_user_id"), table_name="proposed_actions")
    op.drop_index(op.f("ix_proposed_actions_trace_id"), table_name="proposed_actions")
    op.drop_table("proposed_actions")
    for column in ("ticket_id", "status", "partner_id", "owner_id", "opportunity_id", "due_date", "department_id",
                   "account_id"):
        op.drop_index(op.f(f"ix_tasks_{column}"), table_name="tasks")
    op.drop_table("tasks")
