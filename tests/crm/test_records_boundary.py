"""A skill cannot read past the repository: a planted skill that tries to reach a record its user may
not see, through every attribute of its SkillContext and every method of ``ctx.records``, gets nothing.

The "forgotten filter" of issue 8 is impossible by construction when a skill has no way to run a query
the repository did not build: SkillContext carries no Session and no Runtime, nothing reachable through
its public attributes is one, the rows Records hands out are detached (no ``object_session`` behind
them), and every Records query carries the principal's read predicate. A source check keeps skills from
using the Python back doors (name-mangled attributes, ORM internals) that no type system can close.
"""

from __future__ import annotations

import dataclasses
import re
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, literal_column, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, object_session, sessionmaker

from copilot.core.errors import Forbidden, NotFound
from copilot.crm.models import Account, Contract, Opportunity, Ticket
from copilot.crm.permissions import can
from copilot.crm.principal import Principal
from copilot.crm.repository import Records
from copilot.service.runtime import Runtime
from skills.base import SkillContext, SkillRequest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = (Session, sessionmaker, Engine, Connection, Runtime)
MODELS: dict[str, Any] = {"opportunity": Opportunity, "ticket": Ticket, "contract": Contract}


@pytest.fixture(scope="module")
def hidden(demo_runtime: Runtime, principal_for: Callable[[str], Principal]) -> dict[str, int]:
    """One record per type that rep_south_1 may not read, by the policy's ``can`` (whose rules the oracle
    and access-matrix tests check): every door of the repository must agree with it."""
    rep = principal_for("rep_south_1")
    picked: dict[str, int] = {}
    with demo_runtime.sessions() as session:
        for object_type, model in MODELS.items():
            for record_id in session.scalars(select(model.id).order_by(model.id)):
                if not can(session, rep, object_type, record_id):
                    picked[object_type] = record_id
                    break
    assert set(picked) == set(MODELS), picked
    return picked


def reachable(root: object, depth: int = 6) -> Iterator[tuple[str, object]]:
    """Every object reachable from ``root`` through public attributes, items and elements."""
    seen: set[int] = set()
    stack: list[tuple[str, object, int]] = [("ctx", root, 0)]
    while stack:
        path, obj, level = stack.pop()
        if id(obj) in seen or isinstance(obj, str | bytes | int | float | bool | type(None)):
            continue
        seen.add(id(obj))
        yield path, obj
        if level >= depth or isinstance(obj, type | types.ModuleType):
            continue
        if isinstance(obj, dict):
            stack += [(f"{path}[{k!r}]", v, level + 1) for k, v in list(obj.items())[:100]]
            continue
        if isinstance(obj, list | tuple | set | frozenset):
            stack += [(f"{path}[{i}]", v, level + 1) for i, v in enumerate(list(obj)[:100])]
            continue
        if isinstance(obj, types.MethodType):
            stack.append((f"{path}.__self__", obj.__self__, level + 1))
            continue
        for name in dir(obj):
            if name.startswith("_"):
                continue
            try:
                value = getattr(obj, name)
            except Exception:  # a property that refuses is not a way in
                continue
            stack.append((f"{path}.{name}", value, level + 1))


def snoop(request: SkillRequest, ctx: SkillContext, targets: dict[str, int]) -> list[str]:
    """The planted skill: everything it manages to learn about the hidden records (should be nothing)."""
    found: list[str] = []
    for path, obj in reachable(ctx):
        if isinstance(obj, FORBIDDEN):
            found.append(f"{path} is a {type(obj).__name__}")
    records = ctx.records
    for object_type, record_id in targets.items():
        model: Any = MODELS[object_type]
        try:
            records.get(object_type, record_id)
            found.append(f"get({object_type}, {record_id})")
        except NotFound:
            pass
        attempts: dict[str, Any] = {
            "find": records.find(object_type, record_id),
            "list": records.list(object_type, model.id == record_id),
            "list_ordered": records.list(object_type, model.id == record_id, order_by=model.id.desc(), limit=5),
            "first": records.first(object_type, model.id == record_id),
            "count": records.count(object_type, model.id == record_id),
            "rows": records.rows(object_type, model.id, where=[model.id == record_id]),
            "visible_ids": records.list(object_type, model.id.in_(records.visible_ids(object_type, model.id >= 0)),
                                        model.id == record_id),
            "may_read": records.may_read(object_type, record_id),
            "may_write": records.may_write(object_type, record_id),
        }
        for name, got in attempts.items():
            if got:
                found.append(f"{name}({object_type}, {record_id}) -> {got!r}")
        # A widened filter is not a way in either: an OR in the caller's WHERE is ANDed with the policy's.
        if records.count(object_type, (model.id == record_id) | (model.id != record_id)) > records.count(object_type):
            found.append(f"an OR widened {object_type}")
    return found


def test_a_planted_skill_learns_nothing_about_records_it_may_not_see(
    demo_runtime: Runtime, principal_for: Callable[[str], Principal], hidden: dict[str, int]
) -> None:
    rep = principal_for("rep_south_1")
    with demo_runtime.sessions() as session:
        ctx = demo_runtime.assistant.context(session, rep)
        assert snoop(SkillRequest(message="给我看看华东的商机"), ctx, hidden) == []
        # Not vacuous: the same skill as an admin reaches every one of them through the same methods.
        admin_ctx = demo_runtime.assistant.context(session, principal_for("admin"))
        seen_by_admin = snoop(SkillRequest(message="x"), admin_ctx, hidden)
        assert sum(s.startswith("get(") for s in seen_by_admin) == len(hidden)
        assert not [s for s in seen_by_admin if " is a " in s]


def test_the_context_has_no_session_or_runtime_field() -> None:
    names = {f.name for f in dataclasses.fields(SkillContext)}
    assert not names & {"session", "runtime", "db", "engine"}, names
    assert "records" in names and "knowledge" in names


def test_rows_from_the_repository_are_detached(
    demo_runtime: Runtime, principal_for: Callable[[str], Principal]
) -> None:
    """``object_session(row)`` would hand a skill the Session behind its rows: Records returns none."""
    rep = principal_for("rep_east_1")
    with demo_runtime.sessions() as session:
        records = Records(session, rep)
        rows = [*records.list("opportunity", limit=3), *records.list("ticket", order_by=Ticket.id, limit=2)]
        first = records.first("opportunity")
        assert rows and first is not None
        one = records.get("opportunity", rows[0].id)
        for row in [*rows, first, one]:
            assert object_session(row) is None, row
        assert rows[0].name  # still readable: loaded, only detached


def test_records_read_the_requests_own_changes_and_leave_its_instances_in_place(
    demo_runtime: Runtime, principal_for: Callable[[str], Principal]
) -> None:
    """Records loads rows apart from the request's Session (so that handing them out detached is cheap),
    yet a change this request made and has not flushed is what a skill reads, as before, and the
    request's own instance of the same record is not pulled out of its Session."""
    with demo_runtime.sessions() as session:
        records = Records(session, principal_for("rep_east_1"))
        first = records.first("opportunity", order_by=Opportunity.id)
        assert first is not None
        held = session.get(Opportunity, first.id)
        assert held is not None
        held.name = "renamed in this request"
        handed_out: list[list[Any]] = [
            [records.get("opportunity", first.id)],
            [records.find("opportunity", first.id)],
            records.list("opportunity", order_by=Opportunity.updated_at.desc(), limit=1000),
        ]
        for rows in handed_out:
            got = [r for r in rows if r is not None and r.id == first.id]
            assert [r.name for r in got] == ["renamed in this request"]
            assert got[0] is not held and object_session(got[0]) is None
        assert object_session(held) is session and held.name == "renamed in this request"
        session.rollback()


def test_rows_carry_no_value_of_a_field_hidden_from_the_user(
    demo_runtime: Runtime, principal_for: Callable[[str], Principal]
) -> None:
    """A skill that forgets ``masked`` still cannot show the service manager what a contract or a payment
    is worth, nor a partner our margin; the fields they may see keep their values."""
    with demo_runtime.sessions() as session:
        manager = Records(session, principal_for("service_mgr"))
        contracts = manager.list("contract", limit=20)
        assert contracts, "the service manager reads the service contracts (not vacuous)"
        assert all(c.amount is None and c.margin is None and c.number for c in contracts)
        payments = manager.list("receivable", limit=20)
        assert payments and all(p.amount is None and p.paid_amount is None and p.milestone for p in payments)
        partner = Records(session, principal_for("partner_user_1")).list("contract", limit=20)
        assert partner and all(c.margin is None for c in partner) and any(c.amount is not None for c in partner)
        admin = Records(session, principal_for("admin")).get("contract", contracts[0].id)
        assert admin.amount is not None  # the same record, read by someone who may see it


def test_records_cannot_be_rebound_or_extended(
    demo_runtime: Runtime, principal_for: Callable[[str], Principal]
) -> None:
    with demo_runtime.sessions() as session:
        records = Records(session, principal_for("rep_south_1"))
        with pytest.raises(AttributeError):
            records.principal = principal_for("admin")  # type: ignore[misc]
        with pytest.raises(AttributeError):
            records.session = session  # type: ignore[attr-defined]
        assert not [n for n in dir(records) if not n.startswith("_") and isinstance(getattr(records, n), FORBIDDEN)]


def test_a_filter_cannot_reach_past_the_repository(
    demo_runtime: Runtime, principal_for: Callable[[str], Principal], hidden: dict[str, int]
) -> None:
    """What a forgetful skill would write (a raw sub-select, a join condition on another table, SQL
    text) is refused; the repository's own ``visible_ids`` sub-select is the way to other records."""
    with demo_runtime.sessions() as session:
        records = Records(session, principal_for("rep_south_1"))
        raw = select(Opportunity.account_id).where(Opportunity.id == hidden["opportunity"])
        wheres: list[Any] = [
            Account.id.in_(raw),  # an unfiltered sub-select: would say which account the hidden deal is on
            Account.id == Opportunity.account_id,  # another table without visible_ids
            text("1=1"),
            literal_column("owner_id") > 0,
        ]
        for where in wheres:
            with pytest.raises(Forbidden):
                records.list("account", where)
            with pytest.raises(Forbidden):
                records.count("account", where)
        with pytest.raises(Forbidden):
            records.rows("account", Account.id, order_by=Opportunity.amount)
        through = records.list("account", Account.id.in_(records.visible_ids("opportunity", Opportunity.id > 0)))
        assert through and all(records.may_read("account", a.id) for a in through)


def test_a_field_hidden_from_the_user_cannot_be_selected_filtered_or_sorted_on(
    demo_runtime: Runtime, principal_for: Callable[[str], Principal]
) -> None:
    """A service agent may not see contract amounts (field_access.yaml): a filter ``amount > x`` would
    reveal them one comparison at a time, so it is refused like the column itself."""
    with demo_runtime.sessions() as session:
        agent = Records(session, principal_for("service_agent_1"))
        for attempt in (
            lambda: agent.count("contract", Contract.amount > 1_000_000),
            lambda: agent.rows("contract", Contract.id, Contract.margin),
            lambda: agent.list("contract", order_by=Contract.amount.desc(), limit=1),
            lambda: agent.visible_ids("contract", Contract.margin > 30),
        ):
            with pytest.raises(Forbidden, match="not visible to you"):
                attempt()
        assert agent.count("contract") == agent.count("contract", Contract.status.is_not(None)) + agent.count(
            "contract", Contract.status.is_(None))  # fmt: skip
        rep = Records(session, principal_for("rep_east_1"))
        assert rep.count("contract", Contract.amount > 0) >= 1  # the same filter is fine where the field is visible


# Python cannot make an attribute private; this keeps skills off the doors it leaves open.
BACK_DOORS = re.compile(
    r"object_session|_sa_instance_state|_Records__|\bsessionmaker\b|from sqlalchemy\.orm import[^\n]*\bSession\b"
    r"|\.sessions\(|\bimport gc\b|gc\.get_objects|__closure__|__globals__|\bSkillContext\("
)


def test_no_skill_module_uses_a_back_door() -> None:
    offenders = []
    for path in sorted((ROOT / "skills").rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if BACK_DOORS.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


def test_the_back_door_check_catches_a_planted_one() -> None:
    planted = "from sqlalchemy.orm import Session, object_session\nsession = object_session(row)\n"
    assert BACK_DOORS.search(planted)
    assert BACK_DOORS.search("ctx.records._Records__session.execute(text('select * from opportunities'))")
