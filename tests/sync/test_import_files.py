"""``crm-copilot import`` on bad input: a clear per-row report, nothing of a bad batch written, and a
re-run after the fix that writes exactly the rows still missing. Real SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from copilot.crm.db import make_engine, session_factory
from copilot.store.schema import upgrade
from copilot.sync.importer import run_import

ORG = {
    "department": [{"external_id": "D-HQ", "code": "hq", "name": "总部", "parent_id": ""},
                   {"external_id": "D-E", "code": "east", "name": "华东", "parent_id": "D-HQ"}],
    "role": [{"external_id": "R-REP", "name": "sales_rep"}],
    "user": [{"external_id": "U-1", "username": "li", "display_name": "李", "department_id": "D-E",
              "roles": "sales_rep"}],
    "account": [{"external_id": "A-1", "name": "甲", "industry": "制造业", "owner_id": "li"}],
}


def write_csv(path: Path, rows: list[dict[str, Any]], header: list[str] | None = None) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header or list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def opp(i: int, **over: Any) -> dict[str, Any]:
    return {"external_id": f"O-{i}", "account_id": "A-1", "name": f"商机{i}", "stage": "需求确认",
            "amount": f"{1000 + i}.50", "close_date": "2026-12-31", "owner_id": "li", **over}


@pytest.fixture
def db(backend_url: str, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(backend_url)
    upgrade(engine)
    sessions = session_factory(engine)
    for kind, rows in ORG.items():
        report = run_import(sessions, write_csv(tmp_path / f"{kind}.csv", rows), kind)
        assert report.ok and report.created == len(rows), report.to_dict()
    yield sessions
    engine.dispose()


def count(sessions: sessionmaker[Session], table: str) -> int:
    with sessions() as s:
        return int(s.scalar(text(f"SELECT COUNT(*) FROM {table}")) or 0)


def test_one_bad_row_fails_its_batch_only_and_the_rerun_writes_exactly_the_missing_rows(
        db: sessionmaker[Session], tmp_path: Path) -> None:
    rows = [opp(i) for i in range(1, 26)]
    rows[11] = opp(12, close_date="2026-02-30")  # row 13 of the file: no such day
    rows[17] = opp(18, owner_id="ghost")          # row 19: unknown owner
    path = write_csv(tmp_path / "opps.csv", rows)
    report = run_import(db, path, "opportunity", batch_size=10)
    assert not report.ok
    assert [(e.row, e.column, e.value) for e in report.errors] == [(13, "close_date", "2026-02-30"),
                                                                  (19, "owner_id", "ghost")]
    assert "unknown user" in report.errors[1].reason
    # Batches of 10: rows 1-10 written; 11-20 (both bad rows) not at all; 21-25 written.
    assert (report.created, report.not_written, report.failed_batches) == (15, 10, 1)
    assert count(db, "opportunities") == 15
    rows[11], rows[17] = opp(12), opp(18)
    write_csv(path, rows)
    again = run_import(db, path, "opportunity", batch_size=10)
    assert again.ok and (again.created, again.updated, again.unchanged) == (10, 0, 15)
    assert count(db, "opportunities") == 25
    with db() as s:  # the owner's department was taken as the record's, and no reference was nulled
        assert s.execute(text("SELECT COUNT(*) FROM opportunities WHERE owner_id IS NULL OR department_id IS NULL "
                              "OR account_id IS NULL")).scalar() == 0


def test_wrong_columns_are_refused_before_anything_is_read(db: sessionmaker[Session], tmp_path: Path) -> None:
    path = write_csv(tmp_path / "opps.csv", [{"external_id": "O-1", "title": "x", "stage": "赢单"}])
    report = run_import(db, path, "opportunity")
    assert report.file_errors and "unknown column 'title'" in report.file_errors[0]
    assert count(db, "opportunities") == 0
    no_id = write_csv(tmp_path / "no-id.csv", [{"name": "x"}])
    assert any("external_id" in p for p in run_import(db, no_id, "account").file_errors)
    sf = write_csv(tmp_path / "Opportunity.csv", [{"Id": "006A", "Name": "x"}])  # no StageName column
    problems = run_import(db, sf, "opportunity", mapping="salesforce").file_errors
    assert any("'StageName'" in p for p in problems), problems


def test_duplicate_external_ids_are_reported_even_across_batches(db: sessionmaker[Session], tmp_path: Path) -> None:
    rows = [opp(1), opp(2), opp(1, name="又一次"), opp(3), opp(4), opp(2, name="第三批")]
    report = run_import(db, write_csv(tmp_path / "d.csv", rows), "opportunity", batch_size=4)
    dupes = [(e.row, e.reason) for e in report.errors]
    assert dupes == [(4, "duplicate external_id (also at row 2)"), (7, "duplicate external_id (also at row 3)")]
    assert count(db, "opportunities") == 0  # both batches held a duplicate


def test_a_file_that_stops_half_way(db: sessionmaker[Session], tmp_path: Path) -> None:
    path = write_csv(tmp_path / "cut.csv", [opp(1), opp(2), opp(3)])
    data = path.read_text(encoding="utf-8")
    path.write_text(data[: data.rindex("商机3") + 3], encoding="utf-8")  # cut inside the last row
    report = run_import(db, path, "opportunity")
    assert [(e.row, "half-way" in e.reason) for e in report.errors] == [(4, True)]
    assert count(db, "opportunities") == 0
    jsonl = tmp_path / "cut.jsonl"
    lines = [json.dumps(opp(i), ensure_ascii=False) for i in (1, 2)]
    jsonl.write_text(lines[0] + "\n" + lines[1][:30], encoding="utf-8")
    report = run_import(db, jsonl, "opportunity")
    assert [(e.row, "half-way" in e.reason) for e in report.errors] == [(2, True)]


def test_an_unmapped_picklist_value_names_the_value(db: sessionmaker[Session], tmp_path: Path) -> None:
    header = ["Id", "AccountId", "Name", "StageName", "Amount", "CloseDate", "OwnerId"]
    rows = [dict(zip(header, ["006A", "A-1", "x", "Closed Won", "10", "2026-12-31", "li"], strict=True)),
            dict(zip(header, ["006B", "A-1", "y", "Maybe Someday", "10", "2026-12-31", "li"], strict=True))]
    report = run_import(db, write_csv(tmp_path / "Opportunity.csv", rows), "opportunity", mapping="salesforce")
    assert [(e.row, e.column, e.value) for e in report.errors] == [(3, "StageName", "Maybe Someday")]
    assert "no mapping for value 'Maybe Someday'" in report.errors[0].reason
    assert count(db, "opportunities") == 0


def test_dry_run_writes_nothing(db: sessionmaker[Session], tmp_path: Path) -> None:
    report = run_import(db, write_csv(tmp_path / "o.csv", [opp(1), opp(2)]), "opportunity", dry_run=True)
    assert report.ok and report.created == 2 and count(db, "opportunities") == 0


def test_xlsx_and_the_command_line(db: sessionmaker[Session], tmp_path: Path, backend_url: str,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import openpyxl

    from copilot.cli.main import app
    from copilot.core.settings import get_settings

    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    header = list(opp(1))
    ws.append(header)
    for i in (1, 2):
        ws.append([opp(i)[h] for h in header])
    ws.append([opp(3)[h] if h != "amount" else "很多" for h in header])
    wb.save(tmp_path / "opps.xlsx")
    monkeypatch.setenv("CRM_COPILOT_DATABASE_URL", backend_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["import", str(tmp_path / "opps.xlsx"), "--object", "opportunities", "--json"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["errors"] == [{"row": 4, "column": "amount", "value": "很多", "reason": "not a number",
                                 "external_id": "O-3"}]
    assert count(db, "opportunities") == 0
