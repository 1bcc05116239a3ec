"""One readable case per permission rule of design.md, against a small named org.

Org chart (department tree and line managers):

    总部 hq (1)                      ceo (1)
    ├── 销售部 sales (2)              └── vp (2)
    │   └── 华东 east (3)                 └── mgr (3)
    │       └── 华东一组 east1 (4)            ├── rep (4)
    └── 服务部 service (5)                    └── peer (5)
                                     svc_mgr (13) └── agent (6)

east_head (11) heads 华东, sales_asst (12) assists 销售部, east1_head (14) heads 华东一组;
admin (7); nobody (8, no roles, 华东一组); dealer_a (9) and dealer_b (10) are partner users.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from copilot.core.errors import BadRequest, NotFound
from copilot.crm.db import make_engine
from copilot.crm.models import Base, User
from copilot.crm.permissions import can, get_visible, model_for, read_filter, write_filter
from copilot.crm.principal import Principal, principal_for_user
from tests.crm.oracle import clear_tables, insert_rows

Rows = dict[str, list[dict[str, Any]]]

ROLES = ["admin", "sales_rep", "sales_manager", "service_agent", "finance"]
USERS = [
    # id, username, department, manager, partner, roles
    (1, "ceo", 1, None, None, ["sales_manager"]),
    (2, "vp", 2, 1, None, ["sales_manager"]),
    (3, "mgr", 3, 2, None, ["sales_manager"]),
    (4, "rep", 4, 3, None, ["sales_rep"]),
    (5, "peer", 4, 3, None, ["sales_rep"]),
    (6, "agent", 5, 13, None, ["service_agent"]),
    (7, "admin", None, None, None, ["admin"]),
    (8, "nobody", 4, 3, None, []),
    (9, "dealer_a", None, None, 1, ["sales_rep"]),
    (10, "dealer_b", None, None, 2, ["sales_rep"]),
    (11, "east_head", 3, None, None, ["sales_manager"]),
    (12, "sales_asst", 2, None, None, ["finance"]),
    (13, "svc_mgr", 5, None, None, ["service_agent"]),
    (14, "east1_head", 4, None, None, ["sales_manager"]),
]


def base_rows() -> Rows:
    depts = [(1, None, "hq"), (2, 1, "sales"), (3, 2, "east"), (4, 3, "east1"), (5, 1, "service")]
    users = sorted(USERS, key=lambda u: (u[3] is not None, u[0]))  # managers first
    return {
        "departments": [{"id": i, "code": c, "name": c, "parent_id": p, "path": "/"} for i, p, c in depts],
        "partners": [{"id": 1, "name": "经销商甲"}, {"id": 2, "name": "经销商乙"}],
        "roles": [{"id": i, "name": r} for i, r in enumerate(ROLES, 1)],
        "users": [
            {"id": i, "username": n, "display_name": n, "department_id": d, "manager_id": m, "partner_id": p}
            for i, n, d, m, p, _ in users
        ],
        "user_roles": [{"user_id": u[0], "role_id": ROLES.index(r) + 1} for u in USERS for r in u[5]],
        "department_heads": [
            {"department_id": 3, "user_id": 11, "kind": "head"},
            {"department_id": 2, "user_id": 12, "kind": "assistant"},
            {"department_id": 4, "user_id": 14, "kind": "head"},
        ],
        "teams": [{"id": 1, "name": "华东铁三角"}],
        "team_members": [{"team_id": 1, "user_id": 6}],
        "accounts": [
            {"id": 1, "name": "甲客户", "industry": "汽车", "owner_id": 4, "department_id": 4},
            {"id": 2, "name": "公海客户", "industry": "电子", "department_id": 3, "in_public_pool": True}
            | {"pool_department_id": 3},
            {"id": 3, "name": "经销商甲的客户", "industry": "机械", "partner_id": 1, "department_id": 5},
        ],
        "leads": [
            {"id": 1, "name": "公海线索", "company": "某厂", "source": "展会", "in_public_pool": True}
            | {"pool_department_id": 3, "department_id": 3},
        ],
        "opportunities": [
            opportunity(1, owner=4, department=4, amount="300000.00", close=dt.date(2025, 6, 30), stage="商务谈判"),
            opportunity(2, owner=5, department=4, amount="50000.00", close=dt.date(2025, 3, 1), stage="需求确认"),
            opportunity(3, owner=3, department=3, amount="80000.00", close=dt.date(2025, 9, 1), stage="方案报价"),
            opportunity(4, owner=None, department=5, amount="10000.00", close=dt.date(2025, 1, 1), stage="赢单")
            | {"partner_id": 1},
        ],
        "contracts": [
            {"id": 1, "number": "C1", "account_id": 1, "amount": "300000.00", "owner_id": 4, "department_id": 4}
            | {"signed_date": dt.date(2025, 1, 1), "start_date": dt.date(2025, 1, 1), "end_date": dt.date(2026, 1, 1)}
        ],
        "receivables": [
            {"id": 1, "contract_id": 1, "seq": 1, "milestone": "预付款", "due_date": dt.date(2025, 2, 1), "amount": "1"}
        ],
        "products": [
            {"id": 1, "code": "LC-3015", "name": "激光切割机", "name_en": "Laser", "line": "laser", "list_price": 1}
        ],
    }


def opportunity(rid: int, *, owner: int | None, department: int, amount: str, close: dt.date, stage: str) -> dict:
    return {
        "id": rid,
        "account_id": 1,
        "name": f"商机{rid}",
        "stage": stage,
        "amount": amount,
        "close_date": close,
        "owner_id": owner,
        "department_id": department,
    }


class Org:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def principal(self, username: str) -> Principal:
        with Session(self.engine) as session:
            user = session.scalars(select(User).where(User.username == username)).one()
            return principal_for_user(session, user)

    def ids(self, username: str, object_type: str, mode: str = "read") -> set[int]:
        principal = self.principal(username)
        model: Any = model_for(object_type)
        predicate = (read_filter if mode == "read" else write_filter)(principal, object_type)
        with Session(self.engine) as session:
            return set(session.scalars(select(model.id).where(predicate)))

    def reads(self, username: str, object_type: str, record_id: int) -> bool:
        return record_id in self.ids(username, object_type, "read")

    def writes(self, username: str, object_type: str, record_id: int) -> bool:
        return record_id in self.ids(username, object_type, "write")


@pytest.fixture(scope="module")
def engine(module_backend_url: str) -> Iterator[Engine]:
    if module_backend_url.startswith("mysql"):
        pytest.skip("rule cases run on sqlite and postgresql; the property test covers mariadb")
    eng = make_engine(module_backend_url)
    Base.metadata.create_all(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def build(engine: Engine) -> Callable[..., Org]:
    """Load the base org plus ``extra`` rows (sharing rules, settings …) into an emptied database."""

    def _build(**extra: list[dict[str, Any]]) -> Org:
        rows = base_rows()
        for table, more in extra.items():
            rows[table] = rows.get(table, []) + more
        with engine.begin() as conn:
            clear_tables(conn)
            insert_rows(conn, rows)
        return Org(engine)

    return _build


def rule(rid: int, object_type: str = "opportunity", access: str = "read", **kw: Any) -> dict[str, Any]:
    base = {"id": rid, "name": f"r{rid}", "object_type": object_type, "access": access}
    base.setdefault("source_kind", "department")
    return base | kw


# --- owner, line managers, related team ---------------------------------------------------------


def test_the_owner_reads_and_writes_their_deal_and_a_peer_does_not(build: Callable[..., Org]) -> None:
    org = build()
    assert org.ids("rep", "opportunity") == {1}
    assert org.ids("rep", "opportunity", "write") == {1}
    assert not org.reads("peer", "opportunity", 1)


def test_a_line_manager_two_levels_up_reads_the_reps_deal(build: Callable[..., Org]) -> None:
    org = build()
    assert org.reads("vp", "opportunity", 1) and org.writes("vp", "opportunity", 1)
    assert org.reads("ceo", "opportunity", 1) and org.writes("ceo", "opportunity", 1)
    # ... but a manager does not read upwards: the rep never reads the manager's deal.
    assert org.reads("mgr", "opportunity", 3) and not org.reads("rep", "opportunity", 3)


def test_a_related_team_member_and_their_line_manager_get_the_owners_rights(build: Callable[..., Org]) -> None:
    org = build(record_team_members=[{"object_type": "opportunity", "record_id": 2, "user_id": 6}])
    assert org.writes("agent", "opportunity", 2) and org.writes("svc_mgr", "opportunity", 2)
    # the team row is for this object type and record only
    assert not org.reads("agent", "opportunity", 1) and not org.reads("agent", "account", 2)


# --- department heads ---------------------------------------------------------------------------


def test_heads_and_assistants_of_the_owning_department_or_an_ancestor_read_and_write(
    build: Callable[..., Org],
) -> None:
    org = build()
    for head in ("east1_head", "east_head", "sales_asst"):  # 华东一组, its parent 华东, and 销售部 above
        assert {1, 2} <= org.ids(head, "opportunity", "write"), head
    assert not org.reads("sales_asst", "opportunity", 4)  # owned by 服务部, not under 销售部


def test_a_sub_department_member_is_not_a_department_head(build: Callable[..., Org]) -> None:
    org = build()
    # rep is a member of 华东一组 (under 华东): membership gives no rights on 华东's records …
    assert not org.reads("rep", "opportunity", 3)
    # … and heading the sub-department gives none on the parent department's records.
    assert not org.reads("east1_head", "opportunity", 3)
    assert org.writes("east_head", "opportunity", 3)


# --- sharing rules ------------------------------------------------------------------------------


def test_a_read_only_sharing_rule_does_not_grant_write(build: Callable[..., Org]) -> None:
    org = build(sharing_rules=[rule(1, source_department_id=3, target_kind="role", target_role="service_agent")])
    assert org.ids("agent", "opportunity") == {1, 2, 3}  # everything owned in 华东 and below
    assert org.ids("agent", "opportunity", "write") == set()


def test_a_read_write_sharing_rule_grants_write(build: Callable[..., Org]) -> None:
    org = build(
        sharing_rules=[rule(1, access="read_write", source_department_id=4, target_kind="user", target_user_id=6)]
    )
    assert org.ids("agent", "opportunity", "write") == {1, 2}
    assert org.ids("svc_mgr", "opportunity") == set()  # a sharing rule is not inherited by managers


@pytest.mark.parametrize(
    ("target", "readers", "non_readers"),
    [
        ({"target_kind": "role", "target_role": "finance"}, {"sales_asst"}, {"agent", "ceo"}),
        ({"target_kind": "department", "target_department_id": 1}, {"agent", "svc_mgr", "ceo"}, {"dealer_b"}),
        ({"target_kind": "department", "target_department_id": 5}, {"agent", "svc_mgr"}, {"ceo", "sales_asst"}),
        ({"target_kind": "user", "target_user_id": 13}, {"svc_mgr"}, {"agent"}),
        ({"target_kind": "team", "target_team_id": 1}, {"agent"}, {"svc_mgr"}),
    ],
)
def test_sharing_rule_targets_roles_departments_with_subdepartments_users_and_teams(
    build: Callable[..., Org], target: dict[str, Any], readers: set[str], non_readers: set[str]
) -> None:
    org = build(sharing_rules=[rule(1, source_department_id=5, object_type="opportunity", **target)])
    for name in readers:
        assert org.reads(name, "opportunity", 4), name
    for name in non_readers:
        assert not org.reads(name, "opportunity", 4), name


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"field": "stage", "op": "eq", "value": "商务谈判"}, {1}),
        ({"field": "stage", "op": "ne", "value": "商务谈判"}, {2, 3, 4}),
        ({"field": "stage", "op": "in", "value": ["需求确认", "赢单"]}, {2, 4}),
        ({"field": "amount", "op": "gte", "value": 80000}, {1, 3}),
        ({"field": "amount", "op": "lte", "value": "50000"}, {2, 4}),
        # JSON has no dates: an ISO string must work on every backend (it used to crash PostgreSQL).
        ({"field": "close_date", "op": "gte", "value": "2025-06-30"}, {1, 3}),
        ({"field": "close_date", "op": "lte", "value": "2025-03-01"}, {2, 4}),
        # A value that does not fit the field matches nothing (it used to crash PostgreSQL, and on
        # SQLite/MariaDB it compared text with numbers).
        ({"field": "amount", "op": "gte", "value": "很多"}, set()),
        ({"field": "stage", "op": "gte", "value": 5}, set()),
        ({"field": "close_date", "op": "eq", "value": "not a date"}, set()),
    ],
)
def test_a_condition_sharing_rule_shares_exactly_the_matching_records(
    build: Callable[..., Org], condition: dict[str, Any], expected: set[int]
) -> None:
    org = build(
        sharing_rules=[rule(1, source_kind="condition", condition=condition, target_kind="user", target_user_id=6)]
    )
    assert org.ids("agent", "opportunity") == expected


def test_a_condition_on_a_non_existent_field_matches_nothing(build: Callable[..., Org]) -> None:
    for condition in (
        {"field": "no_such_field", "op": "eq", "value": "x"},
        {"field": "stage", "op": "like", "value": "%"},  # not an operator
        {"field": "__class__", "op": "eq", "value": "x"},
        {"field": 5, "op": "eq", "value": 5},
        {"field": "tags", "op": "eq", "value": []},  # a JSON column of accounts, and not of opportunities
    ):
        org = build(
            sharing_rules=[rule(1, source_kind="condition", condition=condition, target_kind="user", target_user_id=6)]
        )
        assert org.ids("agent", "opportunity") == set(), condition


def test_a_sharing_rule_with_an_unknown_access_level_grants_nothing(build: Callable[..., Org]) -> None:
    # Regression: any access value other than read_write used to grant read.
    org = build(sharing_rules=[rule(1, access="none", source_department_id=1, target_kind="user", target_user_id=6)])
    assert org.ids("agent", "opportunity") == set()


def test_partner_users_never_get_sharing_rules(build: Callable[..., Org]) -> None:
    rules = [
        rule(1, access="read_write", source_department_id=1, target_kind="role", target_role="sales_rep"),
        rule(2, access="read_write", source_department_id=1, target_kind="user", target_user_id=9),
    ]
    org = build(sharing_rules=rules)
    assert org.principal("dealer_a").grants == ()
    assert org.ids("dealer_a", "opportunity") == {4}  # only the partner's own record
    assert org.ids("peer", "opportunity") == {1, 2, 3, 4}  # the same rule does reach employees


# --- partners, pool, defaults, children, catalogue, admin, deny by default ----------------------


def test_partner_users_read_and_write_only_their_companys_records(build: Callable[..., Org]) -> None:
    org = build(object_settings=[{"object_type": "opportunity", "default_access": "public_read_write"}])
    assert org.ids("dealer_a", "opportunity") == org.ids("dealer_a", "opportunity", "write") == {4}
    assert org.ids("dealer_a", "account") == {3}
    assert org.ids("dealer_b", "opportunity") == set()  # public_read_write is for employees only


def test_pooled_leads_are_readable_by_the_pool_department_but_not_writable(build: Callable[..., Org]) -> None:
    org = build()
    for member in ("mgr", "rep", "nobody"):  # 华东 and its sub-department 华东一组 (nobody has no role)
        expected = set() if member == "nobody" else {1}
        assert org.ids(member, "lead") == expected, member
        assert org.ids(member, "lead", "write") == set(), member
    assert org.ids("vp", "lead") == set()  # the parent department is not a pool member
    assert org.reads("rep", "account", 2) and not org.writes("rep", "account", 2)
    assert org.writes("east_head", "lead", 1)  # heads keep their own rights on pooled records


def test_object_defaults_public_read_and_public_read_write(build: Callable[..., Org]) -> None:
    org = build(
        object_settings=[
            {"object_type": "opportunity", "default_access": "public_read"},
            {"object_type": "account", "default_access": "public_read_write"},
        ]
    )
    assert org.ids("agent", "opportunity") == {1, 2, 3, 4}
    assert org.ids("agent", "opportunity", "write") == set()
    assert org.ids("rep", "opportunity", "write") == {1}  # the owner still writes
    assert org.ids("agent", "account", "write") == {1, 2, 3}
    assert org.ids("nobody", "account") == set()  # no roles: still nothing


def test_an_unknown_object_default_closes_the_type_to_all_but_admins(build: Callable[..., Org]) -> None:
    org = build(object_settings=[{"object_type": "opportunity", "default_access": "public"}])
    assert org.ids("rep", "opportunity") == set()
    assert org.ids("admin", "opportunity") == {1, 2, 3, 4}


def test_child_records_follow_their_parent(build: Callable[..., Org]) -> None:
    share = rule(1, object_type="contract", source_department_id=4, target_kind="user", target_user_id=6)
    org = build(sharing_rules=[share])
    assert org.ids("rep", "receivable", "write") == {1}
    assert org.ids("agent", "receivable") == {1} and org.ids("agent", "receivable", "write") == set()
    assert org.ids("peer", "receivable") == set()


def test_products_are_readable_by_anyone_with_a_role_and_writable_by_admins(build: Callable[..., Org]) -> None:
    org = build()
    assert org.ids("dealer_a", "product") == {1} and org.ids("rep", "product") == {1}
    assert org.ids("rep", "product", "write") == set() and org.ids("admin", "product", "write") == {1}
    assert org.ids("nobody", "product") == set()


def test_an_admin_reads_and_writes_everything(build: Callable[..., Org]) -> None:
    org = build()
    for object_type, ids in {"opportunity": {1, 2, 3, 4}, "account": {1, 2, 3}, "receivable": {1}}.items():
        assert org.ids("admin", object_type) == org.ids("admin", object_type, "write") == ids


def test_an_empty_principal_sees_nothing(build: Callable[..., Org]) -> None:
    org = build(record_team_members=[{"object_type": "opportunity", "record_id": 1, "user_id": 8}])
    for object_type in ("opportunity", "account", "lead", "receivable", "product", "device", "campaign"):
        assert org.ids("nobody", object_type) == set(), object_type
    bare = Principal(user_id=4, username="rep")  # same id as the owner, but no roles
    with Session(org.engine) as session:
        model: Any = model_for("opportunity")
        assert session.scalars(select(model.id).where(read_filter(bare, "opportunity"))).all() == []


def test_an_unknown_object_type_is_refused(build: Callable[..., Org]) -> None:
    org = build()
    admin = org.principal("admin")
    with pytest.raises(BadRequest):
        model_for("salary")
    with Session(org.engine) as session:
        with pytest.raises(BadRequest):
            can(session, admin, "salary", 1)
        with pytest.raises(BadRequest):
            get_visible(session, admin, "salary", 1)
    # The predicate alone is closed too, even for an admin.
    assert str(read_filter(admin, "salary").compile()) == "false"


def test_an_invisible_record_and_a_missing_one_look_the_same(build: Callable[..., Org]) -> None:
    org = build()
    rep = org.principal("rep")
    with Session(org.engine) as session:
        assert get_visible(session, rep, "opportunity", 1).id == 1
        assert can(session, rep, "opportunity", 1, "write")
        for rid in (3, 999):
            with pytest.raises(NotFound) as err:
                get_visible(session, rep, "opportunity", rid)
            assert str(err.value) == f"opportunity {rid} not found"
