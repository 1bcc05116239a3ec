"""Migrations: ``upgrade`` builds the schema the models describe, on every backend, from any cwd."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import inspect

from copilot.crm.db import make_engine
from copilot.crm.models import Base
from copilot.store.schema import downgrade, schema_diff, upgrade


def test_upgrade_matches_models(backend_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # From an unrelated cwd: the script location must not depend on where the command runs.
    monkeypatch.chdir(tmp_path)
    engine = make_engine(backend_url)
    try:
        upgrade(engine)
        tables = set(inspect(engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
        assert "alembic_version" in tables
        assert schema_diff(engine) == [], "migrations and models disagree: write a new migration"
        # Upgrading again is a no-op, not an error.
        upgrade(engine)
        assert schema_diff(engine) == []
    finally:
        engine.dispose()


def test_downgrade_removes_everything(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'crm.sqlite3'}")
    try:
        upgrade(engine)
        downgrade(engine)
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()


def test_diff_detects_a_model_change(tmp_path: Path) -> None:
    """The check itself can fail: a column the migrations do not create shows up as a diff."""
    from sqlalchemy import Column, Integer, MetaData

    engine = make_engine(f"sqlite:///{tmp_path / 'crm.sqlite3'}")
    try:
        upgrade(engine)
        changed = MetaData()
        for table in Base.metadata.tables.values():
            table.to_metadata(changed)
        changed.tables["accounts"].append_column(Column("extra_column", Integer))
        diff = schema_diff(engine, changed)
        assert any("extra_column" in repr(d) for d in diff)
    finally:
        engine.dispose()


def test_migration_scripts_ship_inside_the_package() -> None:
    import copilot.store.schema as schema

    versions = schema.MIGRATIONS_DIR / "versions"
    assert (schema.MIGRATIONS_DIR / "env.py").is_file()
    assert any(p.name.startswith("0001") for p in versions.glob("*.py"))
    assert os.path.isabs(schema.MIGRATIONS_DIR)
