"""A large synthetic sales organisation on top of the demo, for permission benchmarks.

Only what the "50 most recent visible opportunities" query needs: a deep department tree under
``sales`` (regions → branches → teams), ~10,000 users with line managers and department heads,
accounts, N opportunities, some related-team rows and two sharing rules. Rows are generated as
tuples and written with COPY on PostgreSQL and DBAPI ``executemany`` elsewhere: at a million rows
the ORM and even Core's dict handling are the bottleneck, not the database.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select

from copilot.crm import models as m
from copilot.demo.generator import DEMO_TODAY

SCALE_ROOT = "scale"  # department code prefix: its presence marks a scale build
REGIONS, BRANCHES, TEAMS = 10, 10, 5  # 10 regions × 10 branches × 5 teams = 500 leaf teams
STAGES = m.OPPORTUNITY_STAGES
Progress = Callable[[str, int], None]


@dataclass(frozen=True)
class ScaleInfo:
    users: int
    opportunities: int
    rep: str
    manager: str
    region_head: str


def scale_present(conn: Connection) -> bool:
    return bool(conn.scalar(select(func.count()).select_from(m.Department).where(
        m.Department.code == f"{SCALE_ROOT}-r01")))


def _next_id(conn: Connection, model: Any) -> int:
    return int(conn.scalar(select(func.coalesce(func.max(model.id), 0))) or 0) + 1


def _write(conn: Connection, table: str, columns: Sequence[str], rows: Iterator[tuple[Any, ...]],
           chunk: int = 10_000, progress: Progress | None = None) -> int:
    """Bulk-write tuples: COPY on PostgreSQL, executemany in chunks elsewhere."""
    n = 0
    if conn.dialect.name == "postgresql":
        raw: Any = conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                n += 1
                if progress and n % 100_000 == 0:
                    progress(table, n)
        return n
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= chunk:
            conn.exec_driver_sql(sql, batch)  # type: ignore[arg-type]
            n += len(batch)
            batch = []
            if progress and n % 100_000 == 0:
                progress(table, n)
    if batch:
        conn.exec_driver_sql(sql, batch)  # type: ignore[arg-type]
        n += len(batch)
    return n


def build_scale(conn: Connection, opportunities: int, users: int = 10_000, seed: int = 7,
                today: dt.date = DEMO_TODAY, progress: Progress | None = None) -> ScaleInfo:
    """Add the synthetic organisation in the caller's transaction (the demo must be loaded)."""
    rng = random.Random(seed)
    sales_id = conn.scalar(select(m.Department.id).where(m.Department.code == "sales"))
    sales_path = conn.scalar(select(m.Department.path).where(m.Department.code == "sales"))
    role_id = dict(conn.execute(select(m.Role.name, m.Role.id)).tuples().all())
    dept_next, user_next = _next_id(conn, m.Department), _next_id(conn, m.User)

    # Departments: regions → branches → teams.
    depts: list[tuple[Any, ...]] = []
    teams: list[int] = []
    branch_of: dict[int, int] = {}
    region_of: dict[int, int] = {}
    for r in range(1, REGIONS + 1):
        rid = dept_next + len(depts)
        rpath = f"{sales_path}{rid}/"
        depts.append((rid, f"{SCALE_ROOT}-r{r:02d}", f"大区{r:02d}", sales_id, rpath))
        for b in range(1, BRANCHES + 1):
            bid = dept_next + len(depts)
            bpath = f"{rpath}{bid}/"
            depts.append((bid, f"{SCALE_ROOT}-r{r:02d}-b{b:02d}", f"大区{r:02d}分公司{b:02d}", rid, bpath))
            for t in range(1, TEAMS + 1):
                tid = dept_next + len(depts)
                depts.append((tid, f"{SCALE_ROOT}-r{r:02d}-b{b:02d}-t{t}", f"销售{t}组", bid, f"{bpath}{tid}/"))
                teams.append(tid)
                branch_of[tid], region_of[tid] = bid, rid
    _write(conn, "departments", ("id", "code", "name", "parent_id", "path"), iter(depts))

    # Users: a head per region and branch, a manager per team, reps to make up `users`.
    user_rows: list[tuple[Any, ...]] = []
    user_roles: list[tuple[int, int]] = []
    heads: list[tuple[int, int, str]] = []
    reps: list[tuple[int, int]] = []  # (user id, team department id)

    def add_user(username: str, dept: int, manager: int | None, role: str) -> int:
        uid = user_next + len(user_rows)
        user_rows.append((uid, username, username, dept, manager, True, "zh"))
        user_roles.append((uid, role_id[role]))
        return uid

    region_head: dict[int, int] = {}
    branch_head: dict[int, int] = {}
    for rid in sorted(set(region_of.values())):
        region_head[rid] = add_user(f"scale_rh_{rid}", rid, None, "sales_manager")
        heads.append((rid, region_head[rid], "head"))
    for bid in sorted(set(branch_of.values())):
        rid = next(r for t, r in region_of.items() if branch_of[t] == bid)
        branch_head[bid] = add_user(f"scale_bh_{bid}", bid, region_head[rid], "sales_manager")
        heads.append((bid, branch_head[bid], "head"))
    team_manager: dict[int, int] = {}
    for tid in teams:
        team_manager[tid] = add_user(f"scale_tm_{tid}", tid, branch_head[branch_of[tid]], "sales_manager")
        heads.append((tid, team_manager[tid], "head"))
    n_reps = max(users - len(user_rows), len(teams))
    for i in range(n_reps):
        tid = teams[i % len(teams)]
        reps.append((add_user(f"scale_rep_{i + 1:05d}", tid, team_manager[tid], "sales_rep"), tid))
    _write(conn, "users", ("id", "username", "display_name", "department_id", "manager_id", "is_active", "locale"),
           iter(user_rows))
    _write(conn, "user_roles", ("user_id", "role_id"), iter(user_roles))
    _write(conn, "department_heads", ("department_id", "user_id", "kind"), iter(heads))

    # Accounts: ten opportunities per account on average, each owned by one rep.
    n_accounts = max(opportunities // 10, 1)
    account_next = _next_id(conn, m.Account)
    now = dt.datetime.combine(today, dt.time(12))
    # Round-robin, so every rep owns accounts (and so deals): a rep with nothing is no benchmark.
    account_owner = [reps[(i * 7919) % len(reps)] for i in range(n_accounts)]

    def account_rows() -> Iterator[tuple[Any, ...]]:
        for i, (owner, tid) in enumerate(account_owner):
            yield (account_next + i, f"规模测试客户{i:07d}", "制造业", "B", "[]", "未成交", False,
                   owner, tid, now, now)

    _write(conn, "accounts", ("id", "name", "industry", "tier", "tags", "deal_status", "in_public_pool",
                              "owner_id", "department_id", "created_at", "updated_at"), account_rows())

    opp_next = _next_id(conn, m.Opportunity)
    span = 730 * 24 * 3600

    def opp_rows() -> Iterator[tuple[Any, ...]]:
        for i in range(opportunities):
            a = rng.randrange(n_accounts)
            owner, tid = account_owner[a]
            updated = now - dt.timedelta(seconds=rng.randrange(span))
            stage = STAGES[rng.randrange(6)]
            yield (opp_next + i, account_next + a, f"规模测试商机{i:08d}", stage, rng.randrange(10_000, 5_000_000),
                   updated.date(), 50, 1, 1, updated, owner, tid, updated, updated)

    # Index maintenance dominates a million random-order inserts: build the indexes once, afterwards.
    # (Transactional DDL on SQLite and PostgreSQL; MySQL would commit, so it keeps them.)
    opp_table: Any = m.Opportunity.__table__
    rebuild = list(opp_table.indexes) if conn.dialect.name != "mysql" else []
    for ix in rebuild:
        ix.drop(conn)
    _write(conn, "opportunities", ("id", "account_id", "name", "stage", "amount", "close_date", "probability",
                                   "product_id", "quantity", "stage_entered_at", "owner_id", "department_id",
                                   "created_at", "updated_at"), opp_rows(), progress=progress)

    for ix in rebuild:
        ix.create(conn)

    # 相关团队: 2% of the deals carry one extra rep, not always from the same team.
    def team_rows() -> Iterator[tuple[Any, ...]]:
        seen: set[tuple[int, int]] = set()
        for _ in range(opportunities // 50):
            key = (opp_next + rng.randrange(opportunities), reps[rng.randrange(len(reps))][0])
            if key not in seen:
                seen.add(key)
                yield ("opportunity", key[0], key[1])

    _write(conn, "record_team_members", ("object_type", "record_id", "user_id"), team_rows())

    # Sharing: region 01's deals are readable by region 02 (a joint-pursuit arrangement).
    r01 = next(d[0] for d in depts if d[1] == f"{SCALE_ROOT}-r01")
    r02 = next(d[0] for d in depts if d[1] == f"{SCALE_ROOT}-r02")
    rules: Any = m.SharingRule.__table__
    conn.execute(rules.insert(), [{
        "name": "大区01商机共享给大区02", "object_type": "opportunity", "source_kind": "department",
        "source_department_id": r01, "target_kind": "department", "target_department_id": r02, "access": "read"}])

    if conn.dialect.name == "postgresql":
        for table in ("departments", "users", "accounts", "opportunities"):
            conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                 f"(SELECT MAX(id) FROM {table}))")
    rep_user = reps[len(reps) // 2]
    a_branch = branch_of[teams[len(teams) // 2]]
    return ScaleInfo(users=len(user_rows), opportunities=opportunities,
                     rep=f"scale_rep_{len(reps) // 2 + 1:05d}", manager=f"scale_bh_{a_branch}",
                     region_head=f"scale_rh_{region_of[rep_user[1]]}")
