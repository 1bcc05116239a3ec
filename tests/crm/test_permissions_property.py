"""Property test: for random organisations, the SQL policy equals the brute-force oracle.

Each example builds a random org (department trees up to depth 4, line managers, roles, heads and
assistants, teams, partner companies and partner users), random records (accounts and leads with
pool flags, opportunities, tickets, contracts with receivables), related-team rows, object settings
and sharing rules of both kinds. Then, for EVERY user, the ids selected with ``read_filter`` and
``write_filter`` must equal the oracle's, for every checked object type.

Hypothesis and function-scoped fixtures do not mix, so each test function gets one database from
``backend_url`` and the examples run inside an inner ``@given`` function that empties the tables
first. Non-vacuity is asserted at the end: most examples must have principals who see some but not
all records, and every rule of the oracle must have granted access somewhere during the run.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from copilot.crm.db import make_engine
from copilot.crm.models import OPPORTUNITY_STAGES, TICKET_PRIORITIES, TICKET_STATUSES, Base, User
from copilot.crm.permissions import model_for, read_filter, write_filter
from copilot.crm.principal import principal_for_user
from tests.crm.oracle import READ, WRITE, World, clear_tables, insert_rows, load_world

ROLE_NAMES = ("admin", "sales_rep", "sales_manager", "service_agent", "finance")
OWNED = ("account", "lead", "opportunity", "ticket", "contract")
CHECKED = (*OWNED, "receivable", "product")
ACCESS_VALUES = ("private", "public_read", "public_read_write", "restricted")  # the last one is unknown
JUNK = (5, "abc", True, None, 2.5)

# Condition fields per object type with plausible JSON values (dates as ISO strings, as JSON has no
# dates). Strings are compared with eq/ne/in only: ordering strings depends on each server's collation.
CONDITION_VALUES: dict[str, dict[str, list[Any]]] = {
    "opportunity": {
        "stage": list(OPPORTUNITY_STAGES[:4]),
        "amount": [1000, "50000", 120000.5, 300000, "120000.50"],
        "close_date": ["2025-01-01", "2025-06-30", "2026-01-01"],
        "probability": [10, 50, "90"],
        "competitor": ["大族", "通快", None],
    },
    "account": {"tier": ["A", "B", "战略"], "industry": ["汽车", "电子"], "in_public_pool": [True, False]},
    "lead": {"score": [0, 40, 80], "status": ["raw", "MQL", "SQL"]},
    "ticket": {
        "priority": list(TICKET_PRIORITIES),
        "status": list(TICKET_STATUSES[:3]),
        "sla_due": ["2025-03-01T12:00:00", "2025-06-01T00:00:00"],
    },
    "contract": {"amount": [80000, "200000"], "signed_date": ["2025-02-01", "2025-08-01"], "status": ["执行中"]},
}
ORDERED_FIELDS = {"amount", "close_date", "probability", "score", "sla_due", "signed_date"}
CONDITION_OPS = ("eq", "ne", "in", "gte", "lte", "like")  # "like" is not an operator: matches nothing


def pick(draw: st.DrawFn, options: list[Any] | tuple[Any, ...], none_weight: int = 0) -> Any:
    """One of ``options``, or None with weight ``none_weight`` out of len(options) + none_weight."""
    opts = [None] * none_weight + list(options)
    return draw(st.sampled_from(opts)) if opts else None


@st.composite
def conditions(draw: st.DrawFn, object_type: str) -> dict[str, Any]:
    fields = CONDITION_VALUES[object_type]
    field = draw(st.sampled_from([*fields, "no_such_field"]))
    values = fields.get(field, ["x"])
    ops = CONDITION_OPS if field in ORDERED_FIELDS or field == "no_such_field" else ("eq", "ne", "in", "like")
    op = draw(st.sampled_from(ops))
    pool = values + list(JUNK) if draw(st.integers(0, 9)) == 0 else values
    value: Any = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3)) if op == "in" else pick(draw, pool)
    return {"field": field, "op": op, "value": value}


@st.composite
def worlds(draw: st.DrawFn) -> dict[str, list[dict[str, Any]]]:
    rows: dict[str, list[dict[str, Any]]] = {}

    # departments: a forest, depth <= 4, parents before children
    depth: dict[int, int] = {}
    paths: dict[int, str] = {}
    rows["departments"] = []
    for i in range(1, draw(st.integers(1, 7)) + 1):
        parents = [d for d in depth if depth[d] < 4]
        parent = None
        if parents and draw(st.integers(0, 4)) > 0:  # mostly a tree under earlier departments
            parent = pick(draw, parents, none_weight=1)
        depth[i] = 1 if parent is None else depth[parent] + 1
        paths[i] = (paths[parent] if parent else "/") + f"{i}/"
        rows["departments"].append(
            {"id": i, "code": f"d{i}", "name": f"部门{i}", "parent_id": parent, "path": paths[i]}
        )
    depts = list(depth)

    partners = list(range(1, draw(st.integers(0, 2)) + 1))
    rows["partners"] = [{"id": p, "name": f"经销商{p}"} for p in partners]
    rows["roles"] = [{"id": i, "name": r} for i, r in enumerate(ROLE_NAMES, 1)]

    rows["users"], rows["user_roles"] = [], []
    n_users = draw(st.integers(3, 8))
    for u in range(1, n_users + 1):
        partner = pick(draw, partners) if partners and draw(st.integers(0, 4)) == 0 else None
        rows["users"].append(
            {
                "id": u,
                "username": f"u{u}",
                "display_name": f"用户{u}",
                "department_id": pick(draw, depts, none_weight=1),
                # managers are earlier users: no cycles
                "manager_id": pick(draw, list(range(1, u)), none_weight=2) if u > 1 else None,
                "partner_id": partner,
            }
        )
        roles = set(draw(st.sets(st.sampled_from(ROLE_NAMES[1:]), max_size=2)))
        if draw(st.integers(0, 14)) == 0:
            roles.add("admin")
        if draw(st.integers(0, 9)) == 0:
            roles = set()
        rows["user_roles"] += [{"user_id": u, "role_id": ROLE_NAMES.index(r) + 1} for r in sorted(roles)]
    users = list(range(1, n_users + 1))

    heads = draw(st.sets(st.tuples(st.sampled_from(depts), st.sampled_from(users)), max_size=3))
    rows["department_heads"] = [
        {"department_id": d, "user_id": u, "kind": draw(st.sampled_from(["head", "assistant"]))}
        for d, u in sorted(heads)
    ]
    teams = list(range(1, draw(st.integers(0, 2)) + 1))
    rows["teams"] = [{"id": t, "name": f"铁三角{t}"} for t in teams]
    rows["team_members"] = [
        {"team_id": t, "user_id": u}
        for t in teams
        for u in sorted(draw(st.sets(st.sampled_from(users), min_size=1, max_size=3)))
    ]
    rows["object_settings"] = []
    for ot in OWNED:
        setting = draw(st.sampled_from([None, None, None, "private", "private", "public_read", "public_read_write"]))
        if setting is None and draw(st.integers(0, 29)) == 0:
            setting = "restricted"  # not an access level: the type is closed to all but admins
        if setting is not None:
            rows["object_settings"].append({"object_type": ot, "default_access": setting})

    def owned(rid: int) -> dict[str, Any]:
        return {
            "id": rid,
            "owner_id": pick(draw, users, none_weight=1),
            "department_id": pick(draw, depts, none_weight=1),
            "partner_id": pick(draw, partners, none_weight=2) if partners else None,
        }

    def pooled() -> dict[str, Any]:
        in_pool = draw(st.booleans())
        return {"in_public_pool": in_pool, "pool_department_id": pick(draw, depts, none_weight=1 - in_pool)}

    accounts = list(range(1, draw(st.integers(2, 4)) + 1))
    rows["accounts"] = [
        {
            **owned(a),
            **pooled(),
            "name": f"客户{a}",
            "industry": pick(draw, ["汽车", "电子", "机械"]),
            "tier": pick(draw, ["A", "B", "战略"]),
        }
        for a in accounts
    ]
    rows["leads"] = [
        {
            **owned(i),
            **pooled(),
            "name": f"线索{i}",
            "company": "某公司",
            "source": "展会",
            "score": pick(draw, [0, 40, 80]),
            "status": pick(draw, ["raw", "MQL", "SQL"]),
        }
        for i in range(1, draw(st.integers(0, 3)) + 1)
    ]
    rows["opportunities"] = [
        {
            **owned(i),
            "account_id": pick(draw, accounts),
            "name": f"商机{i}",
            "stage": pick(draw, OPPORTUNITY_STAGES),
            "amount": pick(draw, ["1000.00", "50000.00", "120000.50", "300000.00"]),
            "close_date": pick(draw, [dt.date(2025, 1, 1), dt.date(2025, 6, 30), dt.date(2025, 9, 1)]),
            "probability": pick(draw, [10, 50, 90]),
            "competitor": pick(draw, ["大族", "通快"], none_weight=1),
        }
        for i in range(1, draw(st.integers(1, 5)) + 1)
    ]
    rows["tickets"] = [
        {
            **owned(i),
            "account_id": pick(draw, accounts),
            "number": f"T{i}",
            "subject": "报警",
            "priority": pick(draw, TICKET_PRIORITIES),
            "status": pick(draw, TICKET_STATUSES),
            "process_node": "新建",
            "sla_due": pick(draw, [dt.datetime(2025, 3, 1, 12), dt.datetime(2025, 5, 1, 8)]),
        }
        for i in range(1, draw(st.integers(0, 4)) + 1)
    ]
    contracts = list(range(1, draw(st.integers(0, 3)) + 1))
    rows["contracts"] = [
        {
            **owned(c),
            "account_id": pick(draw, accounts),
            "number": f"C{c}",
            "amount": pick(draw, ["80000.00", "200000.00", "500000.00"]),
            "signed_date": pick(draw, [dt.date(2025, 2, 1), dt.date(2025, 7, 1)]),
            "start_date": dt.date(2025, 1, 1),
            "end_date": dt.date(2026, 1, 1),
        }
        for c in contracts
    ]
    rows["receivables"] = []
    for c in contracts:
        for seq in range(1, draw(st.integers(0, 2)) + 1):
            rid = len(rows["receivables"]) + 1
            rows["receivables"].append(
                {
                    "id": rid,
                    "contract_id": c,
                    "seq": seq,
                    "milestone": "到货款",
                    "due_date": dt.date(2025, 9, 1),
                    "amount": "1.00",
                }
            )
    rows["products"] = [
        {"id": 1, "code": "LC-3015", "name": "激光切割机", "name_en": "Laser cutter", "line": "laser"}
        | {"list_price": "1.00"}
    ]

    record_ids = {ot: [r["id"] for r in rows[model_for(ot).__tablename__]] for ot in OWNED}
    team_rows = draw(
        st.sets(
            st.tuples(st.sampled_from(OWNED), st.integers(1, 3), st.sampled_from(users)),
            max_size=6,
        )
    )
    rows["record_team_members"] = [
        {"object_type": ot, "record_id": rid, "user_id": u} for ot, rid, u in sorted(team_rows) if rid in record_ids[ot]
    ]

    rows["sharing_rules"] = []
    for i in range(1, draw(st.integers(1, 5)) + 1):
        ot = draw(st.sampled_from(OWNED))
        rule: dict[str, Any] = {
            "id": i,
            "name": f"rule{i}",
            "object_type": ot,
            "source_kind": draw(st.sampled_from(["department", "condition"])),
            "source_department_id": None,
            "condition": None,
            "target_role": None,
            "target_department_id": None,
            "target_user_id": None,
            "target_team_id": None,
            "access": draw(st.sampled_from(["read", "read_write", "read", "read_write", "write"])),
        }
        if rule["source_kind"] == "department":
            rule["source_department_id"] = pick(draw, depts)
        else:
            rule["condition"] = draw(conditions(ot))
        kinds = ["role", "department", "user"] + (["team"] if teams else [])
        rule["target_kind"] = draw(st.sampled_from(kinds))
        if rule["target_kind"] == "role":
            rule["target_role"] = draw(st.sampled_from([*ROLE_NAMES[1:], "nobody"]))
        elif rule["target_kind"] == "department":
            rule["target_department_id"] = pick(draw, depts)
        elif rule["target_kind"] == "user":
            rule["target_user_id"] = pick(draw, users)
        else:
            rule["target_team_id"] = pick(draw, teams)
        rows["sharing_rules"].append(rule)
    return rows


def policy_ids(session: Session, principal: Any, object_type: str, mode: str) -> set[int]:
    model: Any = model_for(object_type)
    predicate = (read_filter if mode == READ else write_filter)(principal, object_type)
    return set(session.scalars(select(model.id).where(predicate)))


class Stats:
    def __init__(self) -> None:
        self.examples = 0
        self.partial = 0  # some employee sees some but not all records of some type
        self.read_not_write = 0  # some principal reads more than they may write
        self.sole_reasons: Counter[str] = Counter()


def check_world(engine: Engine, rows: dict[str, list[dict[str, Any]]], stats: Stats) -> None:
    with engine.begin() as conn:
        clear_tables(conn)
        insert_rows(conn, rows)
    with engine.connect() as conn:
        world: World = load_world(conn)
    stats.examples += 1
    partial = read_not_write = False
    with Session(engine) as session:
        for user in session.scalars(select(User).order_by(User.id)):
            principal = principal_for_user(session, user)
            for object_type in CHECKED:
                expected: dict[str, set[int]] = {}
                for mode in (READ, WRITE):
                    expected[mode] = world.visible_ids(user.id, object_type, mode)
                    got = policy_ids(session, principal, object_type, mode)
                    assert got == expected[mode], (
                        f"{mode} {object_type} for user {user.id} ({sorted(principal.roles)}): "
                        f"policy {sorted(got)} != oracle {sorted(expected[mode])}; "
                        f"missing {sorted(expected[mode] - got)}, extra {sorted(got - expected[mode])}"
                    )
                    for rec in world.records[object_type].values():
                        reasons = {r.removeprefix("parent:") for r in world.reasons(user.id, object_type, rec, mode)}
                        if len(reasons) == 1:  # this rule alone decided: the SQL had to get it right
                            stats.sole_reasons[f"{mode}:{reasons.pop()}"] += 1
                assert expected[WRITE] <= expected[READ], "the oracle lets someone write what they cannot read"
                total = len(world.records[object_type])
                if not principal.is_admin and 0 < len(expected[READ]) < total:
                    partial = True
                if expected[WRITE] != expected[READ]:
                    read_not_write = True
    stats.partial += partial
    stats.read_not_write += read_not_write


# Each rule family must, alone, have decided some access during a sqlite run.
EVERY_RULE: dict[str, set[str]] = {
    "admin": {"read:admin"},
    "catalogue": {"read:catalogue"},
    "partner": {"read:partner", "write:partner"},
    "object default public_read": {"read:public_read"},
    "object default public_read_write": {"write:public_read_write"},
    "owner or their managers": {"write:owner", "write:owner's manager"},
    "line manager chain": {"read:owner's manager", "read:related team member's manager"},
    "related team": {"read:related team", "read:related team member's manager"},
    "department head": {"write:department head"},
    "public pool": {"read:public pool"},
}


def run_property(url: str, max_examples: int) -> Stats:
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    stats = Stats()

    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        # Shrinking these worlds takes minutes on a server; the failure message plus the noted rows
        # (the whole world) are enough to reproduce it.
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(rows=worlds())
    def examples(rows: dict[str, list[dict[str, Any]]]) -> None:
        note(f"world rows: {rows!r}")
        check_world(engine, rows, stats)

    try:
        examples()
    finally:
        engine.dispose()
    return stats


EXAMPLES = {"sqlite": 60, "postgresql": 15, "mariadb": 10}


def test_sql_policy_equals_the_oracle_for_every_principal(backend_url: str) -> None:
    backend = backend_url.split(":", 1)[0].split("+", 1)[0]
    backend = "mariadb" if backend == "mysql" else backend
    stats = run_property(backend_url, EXAMPLES[backend])
    assert stats.examples >= EXAMPLES[backend]
    # Non-vacuity: the random orgs must produce real, partial visibility, not all-or-nothing.
    # Measured over 12 sqlite runs of 15 examples: partial 7-13 per run (mean 0.76), read-not-write
    # 11-13. Hypothesis starts with small worlds, so a run can dip well below the mean; the bars sit
    # far enough under the observed minimum that a run fails only when the generator really degrades.
    assert stats.partial >= 0.25 * stats.examples, f"only {stats.partial}/{stats.examples} examples were partial"
    assert stats.read_not_write >= 0.25 * stats.examples, f"only {stats.read_not_write} read-not-write examples"
    if backend == "sqlite":  # enough examples to demand that every rule alone decided some access
        decided = set(stats.sole_reasons)
        missing = [rule for rule, names in EVERY_RULE.items() if not names & decided]
        assert not missing, f"rules never decisive: {missing}"
        assert any(r.startswith("read:sharing:") for r in decided), "no sharing rule was ever decisive"
