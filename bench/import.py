"""Import throughput: N opportunities from a CSV file through ``crm-copilot import``'s engine, next to a plain
bulk insert of the same rows in the same run, on SQLite and PostgreSQL; peak memory of the import.

The importer parses and checks every cell, resolves each row's account and owner by external id and
username, looks up existing rows by external id and writes one transaction per batch. The baseline is
what a loader that trusts its input does: already-typed rows, SQLAlchemy Core ``executemany`` INSERTs in
batches of the same size, one transaction per batch, no lookups. Target: import ≥ 0.5x the baseline.

    python bench/import.py [--rows 1000000] [--backends sqlite,postgresql] [--out bench/results/import.json]

Peak memory is the import's growth of the process's resident set (``ru_maxrss``) over what the process
held before it (the import runs first, in a fresh process per backend, so the baseline cannot raise it).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ACCOUNTS = 2000
OWNERS = 50
BATCH = 2000
STAGES = ("线索验证", "需求确认", "方案报价", "商务谈判", "赢单", "输单")
HEADER = ["external_id", "account_id", "name", "stage", "amount", "close_date", "probability", "owner_id"]
PG_ADMIN = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def row(i: int) -> list[str]:
    amount = f"{10000 + i % 997 * 13}.50"
    return [f"SF-OPP-{i:07d}", f"SF-ACC-{i % ACCOUNTS:05d}", f"批量商机 {i}", STAGES[i % 6], amount,
            (dt.date(2026, 1, 1) + dt.timedelta(days=i % 700)).isoformat(), str(i % 100), f"owner{i % OWNERS}"]


def write_csv(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for i in range(n):
            writer.writerow(row(i))


def make_db(backend: str, tmp: Path) -> tuple[str, Any]:
    if backend == "sqlite":
        return f"sqlite:///{tmp / f'bench-{uuid.uuid4().hex[:8]}.sqlite3'}", None
    from sqlalchemy import create_engine, text

    name = f"bench_import_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", (admin, name)


def drop_db(handle: Any) -> None:
    if handle is None:
        return
    from sqlalchemy import text

    admin, name = handle
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def org(sessions: Any) -> None:
    """A department, the owners and the accounts the opportunities point at (through the importer too)."""
    from copilot.sync.upsert import Item, Upserter

    with sessions.begin() as s:
        Upserter("department").apply(s, [Item({"external_id": "D1", "code": "sales", "name": "销售部"})])
        Upserter("user").apply(s, [Item({"external_id": f"U{i}", "username": f"owner{i}", "display_name": f"销售{i}",
                                         "department_id": "sales"}) for i in range(OWNERS)])
        accounts = [Item({"external_id": f"SF-ACC-{i:05d}", "name": f"客户{i}", "industry": "制造业",
                          "owner_id": f"owner{i % OWNERS}"}) for i in range(ACCOUNTS)]
        out = Upserter("account").apply(s, accounts)
        assert not out.errors, out.errors[:3]


def typed_rows(n: int, ids: dict[str, dict[str, int]], dept: int) -> Iterator[dict[str, Any]]:
    for i in range(n):
        r = row(i)
        yield {"external_id": r[0] + "-plain", "account_id": ids["acc"][r[1]], "name": r[2], "stage": r[3],
               "amount": Decimal(r[4]), "close_date": dt.date.fromisoformat(r[5]), "probability": int(r[6]),
               "owner_id": ids["user"][r[7]], "department_id": dept}


def one_backend(backend: str, n: int, csv_path: Path, tmp: Path) -> dict[str, Any]:
    from sqlalchemy import insert, select, text

    from copilot.crm import models as m
    from copilot.crm.db import make_engine, session_factory
    from copilot.store.schema import upgrade
    from copilot.sync.importer import run_import

    url, handle = make_db(backend, tmp)
    engine = make_engine(url)
    try:
        upgrade(engine)
        sessions = session_factory(engine)
        org(sessions)
        before = rss_mib()
        report = run_import(sessions, csv_path, "opportunity", batch_size=BATCH)
        peak = rss_mib()
        assert report.ok and report.created == n, report.to_dict()
        with engine.begin() as conn:
            # The baseline then starts from the same empty table the import started from.
            conn.execute(text("DELETE FROM opportunities"))
        with engine.connect() as conn:
            accounts = conn.execute(select(m.Account.external_id, m.Account.id)).tuples().all()
            users = conn.execute(select(m.User.username, m.User.id)).tuples().all()
            ids = {"acc": {str(e): i for e, i in accounts}, "user": dict(users)}
            dept = int(conn.scalar(select(m.Department.id)) or 0)
        started = time.perf_counter()
        batch: list[dict[str, Any]] = []
        table: Any = m.Opportunity.__table__
        for r in typed_rows(n, ids, dept):
            batch.append(r)
            if len(batch) == BATCH:
                with engine.begin() as conn:
                    conn.execute(insert(table), batch)
                batch = []
        if batch:
            with engine.begin() as conn:
                conn.execute(insert(table), batch)
        plain_s = time.perf_counter() - started
        with engine.connect() as conn:
            total = conn.scalar(text("SELECT COUNT(*) FROM opportunities"))
        assert total == n, total
        import_rps = n / report.seconds
        plain_rps = n / plain_s
        return {"backend": backend, "rows": n, "batch_size": BATCH,
                "import_s": round(report.seconds, 2), "import_rows_per_s": round(import_rps),
                "plain_insert_s": round(plain_s, 2), "plain_insert_rows_per_s": round(plain_rps),
                "ratio_import_to_plain": round(import_rps / plain_rps, 3),
                "import_peak_rss_growth_mib": round(peak - before, 1), "rss_before_import_mib": round(before, 1)}
    finally:
        engine.dispose()
        drop_db(handle)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--out", type=Path, default=Path("bench/results/import.json"))
    ap.add_argument("--child", help=argparse.SUPPRESS)  # one backend, in a fresh process
    ap.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(one_backend(args.child, args.rows, args.csv, Path(tmp))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "opportunities.csv"
        write_csv(csv_path, args.rows)
        results = []
        for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
            out = subprocess.run([sys.executable, __file__, "--child", backend, "--rows", str(args.rows),
                                  "--csv", str(csv_path)], capture_output=True, text=True, check=False)
            if out.returncode != 0:
                results.append({"backend": backend, "error": out.stderr.strip().splitlines()[-1:]})
                continue
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(json.dumps(results[-1], ensure_ascii=False), flush=True)
    doc = {"bench": "import", "rows": args.rows, "results": results,
           "target": "import_rows_per_s >= 0.5 x plain_insert_rows_per_s"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(doc, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
