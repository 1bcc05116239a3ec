"""Every demo user × every object type × read/write against the demo data.

Two independent checks: a brute-force evaluation, in plain Python over all rows, of the rules as the
design states them (owner + line managers, related team, department heads, public pool, sharing
rules, object defaults, partners, admins) must give exactly the rows the SQL predicate returns; and
hand-written expectations a user would notice ("rep_east_1 sees no sales-south deal").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from copilot.crm import models as m
from copilot.crm.permissions import read_filter, visible_dict, write_filter
from copilot.crm.principal import DEFAULT_OBJECT_ACCESS, Principal
from copilot.service.runtime import Runtime

DEMO_USERS = ["admin", "sales_mgr_east", "rep_east_1", "rep_east_2", "rep_south_1", "service_mgr",
              "service_agent_1", "marketer_1", "partner_user_1"]
ALL_TYPES = [*m.OWNED_TYPES, *m.CHILD_TYPES, *m.CATALOG_TYPES]
MODES = ("read", "write")


@dataclass
class World:
    """All rows the rules read, loaded once into plain Python."""

    users: dict[int, Any] = field(default_factory=dict)
    by_name: dict[str, Any] = field(default_factory=dict)
    roles: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    parent: dict[int, int | None] = field(default_factory=dict)
    heads: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    teams: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    rules: list[Any] = field(default_factory=list)
    defaults: dict[str, str] = field(default_factory=dict)
    records: dict[str, list[Any]] = field(default_factory=dict)
    related: set[tuple[str, int, int]] = field(default_factory=set)
    children: dict[str, list[tuple[int, int]]] = field(default_factory=dict)

    def subtree(self, dept: int) -> set[int]:
        out = {dept}
        changed = True
        while changed:
            changed = False
            for d, p in self.parent.items():
                if p in out and d not in out:
                    out.add(d)
                    changed = True
        return out

    def ancestors(self, dept: int | None) -> set[int]:
        out: set[int] = set()
        while dept is not None and dept not in out:
            out.add(dept)
            dept = self.parent.get(dept)
        return out

    def chain(self, uid: int) -> set[int]:
        out, frontier = {uid}, {uid}
        while frontier:
            frontier = {u for u, user in self.users.items() if user.manager_id in frontier} - out
            out |= frontier
        return out


def load_world(session: Session) -> World:
    w = World()
    for user in session.scalars(select(m.User)):
        w.users[user.id] = user
        w.by_name[user.username] = user
    for user_id, role in session.execute(select(m.UserRole.user_id, m.Role.name).join(
            m.Role, m.Role.id == m.UserRole.role_id)):
        w.roles[user_id].add(role)
    w.parent = {d.id: d.parent_id for d in session.scalars(select(m.Department))}
    for h in session.scalars(select(m.DepartmentHead)):
        w.heads[h.user_id].add(h.department_id)
    for t in session.scalars(select(m.TeamMember)):
        w.teams[t.user_id].add(t.team_id)
    w.rules = list(session.scalars(select(m.SharingRule)))
    w.defaults = {**DEFAULT_OBJECT_ACCESS, **{s.object_type: s.default_access for s in session.scalars(
        select(m.ObjectSetting))}}
    for name, model in m.OWNED_TYPES.items():
        w.records[name] = list(session.scalars(select(model)))
    w.related = {(r.object_type, r.record_id, r.user_id) for r in session.scalars(select(m.RecordTeamMember))}
    for name, (child, fk, _parent) in m.CHILD_TYPES.items():
        rows: list[Any] = list(session.scalars(select(child)))
        w.children[name] = [(row.id, getattr(row, fk)) for row in rows]
    w.records["product"] = list(session.scalars(select(m.Product)))
    return w


def condition_holds(record: Any, cond: dict[str, Any]) -> bool:
    value = getattr(record, cond["field"], None)
    if value is None:
        return cond["op"] == "eq" and cond["value"] is None
    op, target = cond["op"], cond["value"]
    return {"eq": lambda: value == target, "ne": lambda: value != target,
            "in": lambda: value in (target if isinstance(target, list) else [target]),
            "gte": lambda: value >= target, "lte": lambda: value <= target}[op]()


def expected(w: World, username: str, object_type: str, mode: str) -> set[int]:
    """The rules of design.md, evaluated row by row."""
    user = w.by_name[username]
    roles = w.roles[user.id]
    if object_type == "product":
        ok = "admin" in roles or (mode == "read" and bool(roles))
        return {p.id for p in w.records["product"]} if ok else set()
    if object_type in m.CHILD_TYPES:
        parent_type = m.CHILD_TYPES[object_type][2]
        parents = expected(w, username, parent_type, mode)
        return {cid for cid, pid in w.children[object_type] if pid in parents}
    rows = w.records[object_type]
    if not roles:
        return set()
    if "admin" in roles:
        return {r.id for r in rows}
    if user.partner_id is not None:
        return {r.id for r in rows if r.partner_id == user.partner_id}
    default = w.defaults[object_type]
    if default == "public_read_write" or (default == "public_read" and mode == "read"):
        return {r.id for r in rows}
    chain = w.chain(user.id)
    headed = set().union(*(w.subtree(d) for d in w.heads[user.id])) if w.heads[user.id] else set()
    mine = w.ancestors(user.department_id)
    rules = [rule for rule in w.rules if rule.object_type == object_type
             and (mode == "read" or rule.access == "read_write")
             and ((rule.target_kind == "role" and rule.target_role in roles)
                  or (rule.target_kind == "department" and rule.target_department_id in mine)
                  or (rule.target_kind == "user" and rule.target_user_id == user.id)
                  or (rule.target_kind == "team" and rule.target_team_id in w.teams[user.id]))]
    out = set()
    for r in rows:
        if (r.owner_id in chain
                or any((object_type, r.id, u) in w.related for u in chain)
                or r.department_id in headed
                or (mode == "read" and getattr(r, "in_public_pool", False) and r.pool_department_id in mine)
                or any((rule.source_kind == "department" and r.department_id in w.subtree(rule.source_department_id))
                       or (rule.source_kind == "condition" and condition_holds(r, rule.condition))
                       for rule in rules)):
            out.add(r.id)
    return out


def visible(session: Session, principal: Principal, object_type: str, mode: str) -> set[int]:
    model: Any = {**m.OWNED_TYPES, **m.CATALOG_TYPES, **{k: v[0] for k, v in m.CHILD_TYPES.items()}}[object_type]
    predicate = (read_filter if mode == "read" else write_filter)(principal, object_type)
    return set(session.scalars(select(model.id).where(predicate)))


@pytest.fixture(scope="module")
def world(demo_runtime: Runtime) -> World:
    with demo_runtime.sessions() as session:
        return load_world(session)


@pytest.fixture()
def session(demo_runtime: Runtime) -> Any:
    with demo_runtime.sessions() as s:
        yield s


@pytest.mark.parametrize("username", DEMO_USERS)
def test_sql_predicate_equals_the_rules(username: str, world: World, session: Session,
                                        principal_for: Callable[[str], Principal]) -> None:
    principal = principal_for(username)
    mismatches = []
    for object_type in ALL_TYPES:
        for mode in MODES:
            want, got = expected(world, username, object_type, mode), visible(session, principal, object_type, mode)
            if want != got:
                mismatches.append(f"{object_type}/{mode}: missing {sorted(want - got)[:5]}, "
                                  f"extra {sorted(got - want)[:5]}")
    assert not mismatches, "\n".join(mismatches)


def test_the_matrix_check_can_fail(world: World, session: Session,
                                   principal_for: Callable[[str], Principal]) -> None:
    """A principal that lost its sharing rules no longer matches the rules' evaluation."""
    import dataclasses

    stripped = dataclasses.replace(principal_for("service_agent_1"), grants=())
    assert visible(session, stripped, "ticket", "read") != expected(world, "service_agent_1", "ticket", "read")


def ids_where(world: World, object_type: str, pred: Callable[[Any], bool]) -> set[int]:
    return {r.id for r in world.records[object_type] if pred(r)}


def test_reps_see_their_own_deals_only(world: World, session: Session,
                                       principal_for: Callable[[str], Principal]) -> None:
    uid = {name: world.by_name[name].id for name in [*DEMO_USERS, "sales_mgr_south"]}
    south = world.by_name["rep_south_1"].department_id
    e1 = visible(session, principal_for("rep_east_1"), "opportunity", "read")
    assert e1, "rep_east_1 must see some deals"
    assert not e1 & ids_where(world, "opportunity", lambda o: o.department_id == south)
    assert not e1 & ids_where(world, "opportunity", lambda o: o.owner_id == uid["rep_east_2"])
    assert ids_where(world, "opportunity", lambda o: o.owner_id == uid["rep_east_1"]) <= e1
    mgr = visible(session, principal_for("sales_mgr_east"), "opportunity", "write")
    assert ids_where(world, "opportunity", lambda o: o.owner_id in (uid["rep_east_1"], uid["rep_east_2"])) <= mgr
    assert not mgr & ids_where(world, "opportunity", lambda o: o.department_id == south)
    # the related team: rep_south_1 works on two of rep_east_1's deals, with write access
    s1 = visible(session, principal_for("rep_south_1"), "opportunity", "write")
    on_team = {r for (t, r, u) in world.related if t == "opportunity" and u == uid["rep_south_1"]}
    assert on_team and on_team <= s1
    assert not (s1 - on_team) & ids_where(world, "opportunity", lambda o: o.department_id != south)


def test_public_pool_is_readable_not_writable_by_sales(world: World, session: Session,
                                                       principal_for: Callable[[str], Principal]) -> None:
    pooled = ids_where(world, "account", lambda a: a.in_public_pool)
    assert pooled
    for rep in ("rep_east_1", "rep_south_1"):
        assert pooled <= visible(session, principal_for(rep), "account", "read")
        assert not pooled & visible(session, principal_for(rep), "account", "write")


def test_service_sees_tickets_and_customers_but_no_money(world: World, session: Session,
                                                         principal_for: Callable[[str], Principal]) -> None:
    agent = principal_for("service_agent_1")
    all_tickets = ids_where(world, "ticket", lambda t: True)
    assert visible(session, agent, "ticket", "read") == all_tickets
    assert visible(session, agent, "ticket", "write") == all_tickets
    assert visible(session, agent, "account", "read") == ids_where(world, "account", lambda a: True)
    assert not visible(session, agent, "account", "write")
    assert not visible(session, agent, "contract", "read")
    assert not visible(session, agent, "contract", "write")
    assert not visible(session, agent, "opportunity", "read")
    mgr = principal_for("service_mgr")
    assert visible(session, mgr, "contract", "read") == ids_where(world, "contract", lambda c: True)
    assert not visible(session, mgr, "contract", "write")


def test_high_priority_tickets_are_shared_with_sales(world: World, session: Session,
                                                     principal_for: Callable[[str], Principal]) -> None:
    urgent = ids_where(world, "ticket", lambda t: t.priority in ("high", "urgent"))
    assert urgent
    assert visible(session, principal_for("rep_east_1"), "ticket", "read") == urgent
    assert not visible(session, principal_for("rep_east_1"), "ticket", "write")
    assert not visible(session, principal_for("marketer_1"), "ticket", "read")


def test_partner_sees_only_partner_records(world: World, session: Session,
                                           principal_for: Callable[[str], Principal]) -> None:
    partner = principal_for("partner_user_1")
    for object_type in m.OWNED_TYPES:
        seen = visible(session, partner, object_type, "read")
        assert seen == ids_where(world, object_type, lambda r: r.partner_id == partner.partner_id), object_type
    for object_type in ("account", "opportunity", "ticket", "device", "contract"):
        assert visible(session, partner, object_type, "read"), f"partner should see some {object_type}"
    assert not visible(session, partner, "campaign", "read"), "internal campaigns are not for partners"
    assert visible(session, partner, "product", "read")


def test_marketer_reads_customers_and_campaigns(world: World, session: Session,
                                                principal_for: Callable[[str], Principal]) -> None:
    marketer = principal_for("marketer_1")
    assert visible(session, marketer, "campaign", "read") == ids_where(world, "campaign", lambda c: True)
    assert visible(session, marketer, "account", "read") == ids_where(world, "account", lambda c: True)
    assert not visible(session, marketer, "account", "write")
    assert not visible(session, marketer, "contract", "read")
    assert not visible(session, marketer, "product", "write")


def test_admin_sees_and_writes_everything(world: World, session: Session,
                                         principal_for: Callable[[str], Principal]) -> None:
    admin = principal_for("admin")
    for object_type in m.OWNED_TYPES:
        assert visible(session, admin, object_type, "write") == ids_where(world, object_type, lambda r: True)


@pytest.mark.parametrize("username, object_type, hidden", [
    ("service_agent_1", "contract", {"amount", "margin"}),
    ("service_agent_1", "opportunity", {"amount"}),
    ("service_agent_1", "receivable", {"amount", "paid_amount"}),
    ("service_mgr", "contract", {"amount", "margin"}),
    ("marketer_1", "contract", {"amount", "margin"}),
    ("partner_user_1", "contract", {"margin"}),
    ("rep_east_1", "contract", set()),
    ("admin", "contract", set()),
])
def test_field_level_security(username: str, object_type: str, hidden: set[str], session: Session,
                              principal_for: Callable[[str], Principal]) -> None:
    model: Any = m.OWNED_TYPES.get(object_type) or m.CHILD_TYPES[object_type][0]
    record = session.scalars(select(model).limit(1)).one()
    shown = visible_dict(principal_for(username), object_type, record)
    assert not hidden & shown.keys()
    assert set(c.key for c in model.__table__.columns) - hidden == shown.keys()
