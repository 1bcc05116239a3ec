"""external_id on every importable CRM object (copilot/sync: import and upsert by the host CRM's id)

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-02 01:20:00

A nullable column with a unique index: rows made here keep NULL (unique indexes admit many NULLs on
SQLite, PostgreSQL and MySQL), rows brought in by the importer or the upsert API carry the host's id.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "departments", "roles", "users", "teams", "sharing_rules", "accounts", "contacts", "leads", "products",
    "opportunities", "activities", "devices", "tickets", "contracts", "receivables", "campaigns",
)


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("external_id", sa.String(length=120), nullable=True))
        op.create_index(f"ix_{table}_external_id", table, ["external_id"], unique=True)


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(f"ix_{table}_external_id", table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("external_id")
