"""Permission-filter benchmark: "the 50 most recent opportunities this user may see".

Builds (once, cached) a demo database plus a synthetic organisation of ~10,000 users and N
opportunities (default 1,000,000) on SQLite and PostgreSQL, then times

    select(Opportunity).where(read_filter(principal, "opportunity"))
                       .order_by(Opportunity.updated_at.desc()).limit(50)

for a rep, a branch manager, a region head, a rep who gains a region through a sharing rule and an
admin, next to the same query with no permission predicate. Prints a table and writes JSON
(bench/results/permissions.json), with the query plans, so a slow case can be explained.

    python bench/permissions.py                       # 1M opportunities, sqlite + postgresql
    python bench/permissions.py --opportunities 100000 --backends sqlite
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Engine, create_engine, func, or_, select, text, union_all
from sqlalchemy.orm import Session
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BooleanClauseList
from sqlalchemy.sql.selectable import Exists

from copilot.crm.db import make_engine
from copilot.crm.models import Opportunity, RecordTeamMember, User
from copilot.crm.permissions import read_filter
from copilot.crm.principal import load_principal
from copilot.demo.generator import build_demo, load
from copilot.demo.scale import build_scale, scale_present
from copilot.store.schema import drop_all, upgrade

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = os.environ.get("CRM_COPILOT_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def default_url(backend: str, n: int) -> str:
    if backend == "sqlite":
        return f"sqlite:///{ROOT / 'data' / 'bench' / f'permissions-{n}.sqlite3'}"
    return PG_ADMIN.rsplit("/", 1)[0] + f"/crm_bench_{n}"


def ensure_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}):
            conn.execute(text(f'CREATE DATABASE "{name}" ENCODING \'UTF8\''))
    admin.dispose()


def build(engine: Engine, n: int, users: int) -> dict[str, Any]:
    """Build the scale database unless a complete one is already there; returns build facts."""
    with engine.connect() as conn:
        try:
            ready = scale_present(conn) and (conn.scalar(select(func.count()).select_from(Opportunity)) or 0) >= n
        except Exception:
            ready = False
    if ready:
        return {"reused": True}
    t0 = time.perf_counter()
    drop_all(engine)
    upgrade(engine)
    with Session(engine) as session, session.begin():
        load(session, build_demo())
        build_scale(session.connection(), n, users=users,
                    progress=lambda table, k: print(f"    {table}: {k:,}", flush=True))
    with engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()
    return {"reused": False, "build_s": round(time.perf_counter() - t0, 1)}


def pick_principals(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        rep = conn.scalar(select(User.username).where(User.username.like("scale_rep_%"))
                          .order_by(User.id).offset(5000).limit(1))
        # A rep whose team sits in region 02: the sharing rule adds all of region 01's deals.
        shared = conn.scalar(text(
            "SELECT u.username FROM users u JOIN departments d ON d.id = u.department_id "
            "WHERE d.code LIKE 'scale-r02-%' AND u.username LIKE 'scale_rep_%' ORDER BY u.id LIMIT 1"))
        bh = conn.scalar(text(
            "SELECT u.username FROM users u JOIN departments d ON d.id = u.department_id "
            "WHERE d.code = 'scale-r05-b05' AND u.username LIKE 'scale_bh_%'"))
        rh = conn.scalar(text(
            "SELECT u.username FROM users u JOIN departments d ON d.id = u.department_id "
            "WHERE d.code = 'scale-r05' AND u.username LIKE 'scale_rh_%'"))
    return {"rep": str(rep), "manager (branch head)": str(bh), "region head": str(rh),
            "rep + sharing rule": str(shared), "admin": "admin"}


def timed(session: Session, stmt: Any, repeat: int, budget_s: float = 8.0) -> tuple[list[float], list[int]]:
    """Latencies in ms (one warm-up run first; a slow case stops after ``budget_s``, with ≥ 3 samples)."""
    rows = session.execute(stmt).scalars().all()
    samples: list[float] = []
    start = time.perf_counter()
    for _ in range(repeat):
        session.expunge_all()
        t0 = time.perf_counter()
        rows = session.execute(stmt).scalars().all()
        samples.append((time.perf_counter() - t0) * 1000)
        if len(samples) >= 3 and time.perf_counter() - start > budget_s:
            break
    return samples, [r.id for r in rows]


# --- proposed predicate shapes (same rows, different SQL), measured next to the policy's own ----------

def _branches(principal: Any, object_type: str) -> list[tuple[Any, Any]]:
    """read_filter's OR branches as (predicate, SELECT of the ids it admits); the correlated
    related-team EXISTS becomes an uncorrelated ``id IN (SELECT record_id …)``."""
    pred = read_filter(principal, object_type)
    clauses = list(pred.clauses) if isinstance(pred, BooleanClauseList) and pred.operator is operators.or_ \
        else [pred]
    team_ids = select(RecordTeamMember.record_id).where(
        RecordTeamMember.object_type == object_type, RecordTeamMember.user_id.in_(sorted(principal.chain_ids)))
    out: list[tuple[Any, Any]] = []
    for c in clauses:
        if isinstance(getattr(c, "element", c), Exists):
            out.append((Opportunity.id.in_(team_ids), team_ids))
        else:
            out.append((c, select(Opportunity.id).where(c)))
    return out


def in_subquery_form(principal: Any) -> Any:
    """A: the related-team branch as ``id IN (SELECT record_id …)``, evaluated once, not per row."""
    if principal.is_admin:
        return read_filter(principal, "opportunity")
    return or_(*(c for c, _ in _branches(principal, "opportunity")))


def union_form(principal: Any) -> Any:
    """B: ``id IN (SELECT id … UNION ALL …)``, one indexable SELECT per branch: the database starts
    from the few visible rows instead of walking every row in updated_at order."""
    if principal.is_admin:
        return read_filter(principal, "opportunity")
    return Opportunity.id.in_(union_all(*(ids for _, ids in _branches(principal, "opportunity"))))


def auto_form(principal: Any) -> Any:
    """C: B for narrow principals (no headed department, no department-wide grant, small chain), else A."""
    narrow = (not principal.headed_department_ids and len(principal.chain_ids) <= 50
              and not any(g.object_type == "opportunity" and g.source_department_ids for g in principal.grants))
    return union_form(principal) if narrow else in_subquery_form(principal)


VARIANTS = {"policy": lambda p: read_filter(p, "opportunity"), "A_in_subquery": in_subquery_form,
            "B_union": union_form, "C_auto": auto_form}


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))], 3)


def plan(session: Session, stmt: Any) -> str:
    dialect = session.get_bind().dialect
    sql = str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    if dialect.name == "postgresql":
        return "\n".join(r[0] for r in session.execute(text("EXPLAIN (ANALYZE, COSTS OFF) " + sql)))
    return "\n".join(str(r[-1]) for r in session.execute(text("EXPLAIN QUERY PLAN " + sql)))


def run_backend(backend: str, url: str, n: int, users: int, repeat: int, build_only: bool = False) -> dict[str, Any]:
    if backend == "postgresql":
        ensure_pg_database(url)
    engine = make_engine(url)
    print(f"[{backend}] {url}", flush=True)
    facts = build(engine, n, users)
    print(f"[{backend}] database ready {facts}", flush=True)
    out: dict[str, Any] = {"url": url, **facts, "cases": {}}
    if build_only:
        return out
    with Session(engine) as session:
        out["opportunities"] = session.scalar(select(func.count()).select_from(Opportunity))
        out["users"] = session.scalar(select(func.count()).select_from(User))
        base = select(Opportunity).order_by(Opportunity.updated_at.desc()).limit(50)
        unfiltered, _ = timed(session, base, repeat)
        print(f"[{backend}] unfiltered p50 {pct(unfiltered, 50):.2f} ms p95 {pct(unfiltered, 95):.2f} ms", flush=True)
        out["unfiltered"] = {"p50_ms": pct(unfiltered, 50), "p95_ms": pct(unfiltered, 95)}
        for label, username in pick_principals(engine).items():
            principal = load_principal(session, username)
            # Counted with shape A (the same rows; the policy's correlated form can take hours here).
            visible = session.scalar(select(func.count()).select_from(Opportunity)
                                     .where(in_subquery_form(principal)))
            case: dict[str, Any] = {"username": username, "visible_rows": visible}
            reference: list[int] | None = None
            for name, make in VARIANTS.items():
                stmt = select(Opportunity).where(make(principal)).order_by(Opportunity.updated_at.desc()).limit(50)
                samples, ids = timed(session, stmt, repeat)
                reference = ids if reference is None else reference
                case[name] = {
                    "p50_ms": pct(samples, 50), "p95_ms": pct(samples, 95), "samples": len(samples),
                    "x_unfiltered_p50": round(pct(samples, 50) / max(out["unfiltered"]["p50_ms"], 1e-6), 1),
                    "same_rows_as_policy": ids == reference, "plan": plan(session, stmt),
                }
                print(f"[{backend}] {label:<22} {name:<14} visible {visible:>9,}  p50 {case[name]['p50_ms']:>9.2f} ms"
                      f"  p95 {case[name]['p95_ms']:>9.2f} ms  same={ids == reference}", flush=True)
            out["cases"][label] = case
    engine.dispose()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--opportunities", type=int, default=1_000_000)
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--sqlite-url")
    ap.add_argument("--pg-url")
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--build-only", action="store_true", help="build (or find) the databases and stop")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "permissions.json"))
    args = ap.parse_args()
    results: dict[str, Any] = {
        "query": "select(Opportunity).where(read_filter(p, 'opportunity')).order_by(updated_at desc).limit(50)",
        "opportunities": args.opportunities, "users_requested": args.users, "repeat": args.repeat,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "backends": {},
    }
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        url = (args.sqlite_url if backend == "sqlite" else args.pg_url) or default_url(backend, args.opportunities)
        results["backends"][backend] = run_backend(backend, url, args.opportunities, args.users, args.repeat,
                                                   args.build_only)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
