"""The permission policy: the one place that decides who sees what.

Everything that reads CRM records or knowledge-base chunks asks this module:

* ``read_filter`` / ``write_filter`` turn a Principal into a SQL predicate for an object type, to be
  placed in the query's WHERE (never "fetch then drop");
* ``mask`` keeps only the fields field-level security grants (field_access.yaml, an allow-list per
  role: a new column is hidden until granted) on the way out;
* ``acl_scope`` / ``document_acl_tokens`` build one vocabulary of ACL tokens for the knowledge base,
  for readers and for documents by the same code; ``acl_match`` is THE rule (the token sets meet, or
  the scope is an admin's explicit ``everything``) for ingestion's groups, search and the tests;
* ``may_use_skill`` / ``may_write_knowledge_base`` / ``may_read_prompts`` / ``may_render_prompt``
  are the capabilities: who may run which skill (and so see which MCP tool), change the knowledge
  base, read prompt templates, and render one with a record's facts.

Deny by default: an unknown object type, an unknown access level, a principal with no roles or a
document without a valid ACL gets nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import (
    JSON,
    ColumnElement,
    Integer,
    Numeric,
    Select,
    UnaryExpression,
    and_,
    bindparam,
    event,
    false,
    literal,
    literal_column,
    or_,
    select,
    true,
    type_coerce,
    union,
    union_all,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.sql import operators
from sqlalchemy.sql.expression import ColumnClause, Exists, ScalarSelect, Subquery, TableClause, TextClause
from sqlalchemy.sql.schema import Table
from sqlalchemy.types import NullType

from copilot.core.errors import BadRequest, ConfigError, Forbidden, NotFound
from copilot.crm.models import (
    CATALOG_TYPES,
    CHILD_TYPES,
    OWNED_TYPES,
    Base,
    Department,
    DepartmentHead,
    Opportunity,
    OpportunityVisibility,
    OpportunityVisibilityState,
    RecordTeamMember,
    SharingRule,
    User,
)
from copilot.crm.principal import ACCESS_LEVELS, Principal

READ, WRITE = "read", "write"
# Up to this many people in a manager's chain, with no department-wide access, a principal is
# "narrow" and gets the UNION form of the predicate (see _filter).
NARROW_CHAIN = 50
CONDITION_OPS = ("eq", "ne", "in", "gte", "lte")
GRANT_ACCESS = ("read", "read_write")
VISIBILITIES = ("public", "internal", "restricted")


def model_for(object_type: str) -> type[Base]:
    model = OWNED_TYPES.get(object_type) or CATALOG_TYPES.get(object_type)
    if model is None and object_type in CHILD_TYPES:
        model = CHILD_TYPES[object_type][0]
    if model is None:
        raise BadRequest(f"unknown object type {object_type!r}")
    return model  # type: ignore[return-value]


def read_filter(principal: Principal, object_type: str) -> ColumnElement[bool]:
    return _filter(principal, object_type, READ)


def write_filter(principal: Principal, object_type: str) -> ColumnElement[bool]:
    return _filter(principal, object_type, WRITE)


def _filter(principal: Principal, object_type: str, mode: str) -> ColumnElement[bool]:
    if object_type in CHILD_TYPES:
        child, fk, parent_type = CHILD_TYPES[object_type]
        parent = OWNED_TYPES[parent_type]
        parent_ids = select(parent.id).where(_filter(principal, parent_type, mode))  # type: ignore[attr-defined]
        return getattr(child, fk).in_(parent_ids)  # type: ignore[no-any-return]
    if object_type in CATALOG_TYPES:
        return true() if (mode == READ and principal.roles) or principal.is_admin else false()
    model: Any = OWNED_TYPES.get(object_type)
    if model is None or not principal.roles:
        return false()
    if principal.is_admin:
        return true()
    if principal.is_partner:
        # External users see their own company's records and nothing else.
        return model.partner_id == principal.partner_id  # type: ignore[no-any-return]

    default = principal.object_defaults.get(object_type, "private")
    if default not in ACCESS_LEVELS:
        return false()
    if default == "public_read_write" or (default == "public_read" and mode == READ):
        return true()

    parts = _owned_parts(principal, object_type, mode, model)
    own = _in_ids(model.owner_id, parts.chain)
    # The related team as an uncorrelated IN (evaluated once), not an EXISTS re-run for every row.
    team_ids = select(RecordTeamMember.record_id).where(
        RecordTeamMember.object_type == object_type, _in_ids(RecordTeamMember.user_id, parts.chain)
    )
    if parts.narrow:
        # A rep who sees a few records of millions: "id IN (owned UNION ALL team)" lets the database
        # start from those few rows through the owner and team indexes, instead of walking the whole
        # table in the ORDER BY's index order testing an OR on each row (bench/permissions.py).
        return model.id.in_(union_all(select(model.id).where(own), team_ids))  # type: ignore[no-any-return]
    wide = [_in_ids(model.department_id, parts.departments)] if parts.departments else []
    return or_(own, model.id.in_(team_ids), *wide, *parts.others)


@dataclass(frozen=True)
class _Parts:
    """The branches of a non-admin, non-partner principal's predicate on an owned type: the record is
    visible when ANY of them holds."""

    chain: tuple[int, ...]  # owner, or related-team member: the user or someone they manage
    departments: tuple[int, ...]  # owned by one of these departments (headed, or shared by a rule)
    others: tuple[ColumnElement[bool], ...]  # the public pool and condition sharing rules

    @property
    def narrow(self) -> bool:
        """A few people's own records only (a rep): nothing department-wide, a short chain."""
        return not self.departments and not self.others and len(self.chain) <= NARROW_CHAIN


def _owned_parts(principal: Principal, object_type: str, mode: str, model: Any) -> _Parts:
    # Sorted as they are (a region head's ~1,000 ids: ~15 us, against ~70 us through int() each);
    # every id goes through int() where it is written into SQL (_id_list, _in_ids).
    chain = tuple(sorted(principal.chain_ids))
    departments: set[int] = set(principal.headed_department_ids)
    others: list[ColumnElement[bool]] = []
    if mode == READ and hasattr(model, "in_public_pool") and principal.ancestor_department_ids:
        # 公海: members of the pool's department (and its sub-departments) may read pooled records.
        pool_departments = principal.ancestor_department_ids
        others.append(and_(model.in_public_pool.is_(True), _in_ids(model.pool_department_id, pool_departments)))
    for grant in principal.grants:
        if grant.object_type != object_type or grant.access not in GRANT_ACCESS:
            continue  # an unknown access level grants nothing (deny by default)
        if mode == WRITE and grant.access != "read_write":
            continue
        if grant.source_department_ids is not None:
            departments |= grant.source_department_ids
        elif grant.condition is not None:
            clause = condition_clause(model, grant.condition)
            if clause is not None:
                others.append(clause)
    return _Parts(chain, tuple(sorted(int(d) for d in departments)), tuple(others))


# --- pages: "the n most recent records I may see" ------------------------------------------------

# A principal whose department-wide access covers at most this many departments (a branch head, not
# a region head) gets the cut-off plan below; more departments make the walk cheaper.
PAGE_DEPARTMENTS = 16
PAGE_WINDOW = 1000  # limit + offset beyond this: the plain predicate
# A walk for a principal with more departments than this probes the related team per index entry
# instead of collecting the whole team first (see _page_statements).
PAGE_PROBE_DEPARTMENTS = PAGE_DEPARTMENTS


@dataclass(frozen=True)
class Page:
    """A planned page of visible records: ``session.scalars(page.statement, page.params)``."""

    statement: Select[Any]
    params: dict[str, Any]
    plan: str  # "closure" | "cutoff" | "walk"
    # The closure plan only: the predicate's test on the loaded rows (``admitted``), so that a closure
    # that missed a change can never show a row the policy does not grant.
    principal: Principal | None = None

    def admitted(self, session: Session, rows: Sequence[Any]) -> list[Any]:
        """The rows of this page the principal may read (all of them, unless the closure is stale)."""
        if self.principal is None:
            return list(rows)
        return _admitted(session, self.principal, rows)


def page_select(
    session: Session,
    principal: Principal,
    object_type: str,
    where: Sequence[ColumnElement[bool]],
    order_by: Any,
    limit: int,
    offset: int = 0,
    closure: bool = True,
) -> Page | None:
    """One page ("the n newest") of the visible records, planned for a manager; ``None`` when the plain
    ``WHERE read_filter(...) ORDER BY ... LIMIT`` is the plan (the caller runs that).

    Why: a branch head sees ~1 % of a million deals, so "newest 50 I may see" walks ~5,000 index
    entries testing the predicate on each (7-16x the unfiltered query, bench/permissions.py).

    * ``closure`` (opportunities by ``updated_at``, no extra clause, no pool or condition rule, and a
      trusted closure; ``closure=False`` skips it): the newest n entries of one ``opportunity_visibility``
      index range per key (the principal's id; minus each granted rule source), their rows, ordered;
      ``Page.admitted`` tests those rows against the predicate (see "the visibility closure" below).
      1M deals, CPU vs the bare unfiltered query: every persona 0.9-1.6x on SQLite and PostgreSQL.
    * ``cutoff`` (a few departments): first the cut-off ``X``, the n-th newest value among the
      departments' rows, merged from one ``(department_id, col)`` index range of n entries per
      department; then every branch of the predicate bounded by ``col >= X``, each a short index range
      (departments through ``(department_id, col)``, owners through ``(owner_id, col)``), unioned; then
      those rows, ordered and limited. Same rows as the plain query: the departments' n newest are
      visible, so the page's n newest all have ``col >= X``, and each branch keeps all its rows above X.
    * ``walk`` (many departments, ~10 % of the rows visible): the newest n are a short walk down the
      newest-first index; walk it for ids only, testing the predicate on the index entries
      (``ix_opp_recent`` holds owner and department, so no rejected row is read), then read n rows.

    Ties are broken by ``id`` (in the order's direction), so a page is deterministic.
    """
    model: Any = OWNED_TYPES.get(object_type)
    window = limit + max(0, offset)
    if model is None or not principal.roles or principal.is_admin or principal.is_partner or window < 1:
        return None
    if window > PAGE_WINDOW or principal.object_defaults.get(object_type, "private") != "private":
        return None
    column, descending = _page_order(model, order_by)
    if column is None:
        return None
    parts = _owned_parts(principal, object_type, READ, model)
    if closure and object_type == "opportunity" and column.key == "updated_at" and not where and not parts.others:
        page = _closure_page(session, principal, parts, model, descending, limit, max(0, offset))
        if page is not None:
            return page
    if parts.narrow:
        return None  # a rep: the predicate already starts from their few rows
    few = 0 < len(parts.departments) <= PAGE_DEPARTMENTS
    # Outside SQLite the cut-off goes into the SQL as a typed literal too (see _page_statements).
    typed = session.get_bind().dialect.name != "sqlite"
    probe = len(parts.departments) > PAGE_PROBE_DEPARTMENTS
    shape = (model, object_type, column.key, descending, parts.chain, parts.departments, few, typed, probe)
    # Built once per principal's shape (and kept) unless the caller's clauses or a condition rule
    # make it one of a kind: building and rendering the statements costs more than running them.
    statements = _page_statements(*shape, tuple(where), parts.others) if where or parts.others else _kept(*shape)
    params: dict[str, Any] = {"window": window, "take": limit, "skip": max(0, offset)}
    if statements.cutoff is not None and statements.bounded is not None:
        cut = {f"d{i}": d for i, d in enumerate(parts.departments)} | {"window": window, "last": window - 1}
        cutoff = session.scalar(statements.cutoff, cut)
        if cutoff is not None:  # else the departments hold fewer than n rows: walk
            return Page(statements.bounded, params | {"cutoff": cutoff}, "cutoff")
    return Page(statements.walk, params, "walk")


@dataclass(frozen=True)
class _PageStatements:
    walk: Select[Any]
    cutoff: Select[Any] | None = None
    bounded: Select[Any] | None = None


def _page_statements(
    model: Any,
    object_type: str,
    column_key: str,
    descending: bool,
    chain: tuple[int, ...],
    departments: tuple[int, ...],
    few: bool,
    typed: bool,
    probe: bool,
    where: tuple[ColumnElement[bool], ...] = (),
    others: tuple[ColumnElement[bool], ...] = (),
) -> _PageStatements:
    """The page statements, with named parameters window, take and skip; the cut-off query also
    d0…d{n-1} and last; the bounded page also cutoff. ``few``: departments few enough for a cut-off;
    ``typed``: the cut-off is compared as the column's type (not SQLite: see below); ``probe``: the
    walk tests the related team per index entry."""
    column = getattr(model, column_key)
    ordered_by = column.desc() if descending else column.asc()
    newest = (ordered_by, model.id.desc() if descending else model.id.asc())
    # Sizes written into the SQL too: with no parameter left, PostgreSQL plans the walk once per
    # prepared statement (psycopg prepares a query text run 5 times) instead of at every execution
    # (~2-3 ms for a region head's ~1,000-id lists); a generic plan with LIMIT $1 is far worse.
    window, take, skip = (bindparam(k, type_=Integer, literal_execute=True) for k in ("window", "take", "skip"))
    # The object type as a literal too, so no parameter is left in the page statements (see above).
    kind = bindparam("object_type", object_type, type_=RecordTeamMember.object_type.type, literal_execute=True)
    team = select(RecordTeamMember.record_id).where(
        RecordTeamMember.object_type == kind, _id_list(RecordTeamMember.user_id, chain)
    )
    # The same branches as _filter's OR (the page property test compares them with the oracle).
    branches = [
        _id_list(model.department_id, departments), _id_list(model.owner_id, chain), model.id.in_(team), *others
    ]
    walk_branches = branches
    if probe:
        # Many departments (a region head): the walk is short (~10 % of rows visible, ~400 entries for
        # 50), so the related team is probed per entry the department and owner tests rejected (~300
        # primary-key lookups) instead of collecting the whole team of a ~1,000-person chain first
        # (a scan of record_team_members on PostgreSQL, ~1,000 index searches on SQLite): execution
        # 2.4 -> 1.0 ms on PostgreSQL, 1.5 -> 0.7 ms on SQLite (bench/permissions.py, 1M deals).
        # A scalar sub-query, not EXISTS: PostgreSQL turns EXISTS back into the hashed whole-team set.
        # ``user_id + 0``: SQLite would otherwise search (user_id, ...) once per chain member, per entry.
        walk_branches = [branches[0], branches[1], _team_probe(model, kind, chain), *others]
    walk_ids = select(model.id).where(or_(*walk_branches), *where).order_by(*newest).limit(window).subquery()
    walk = _by_ids(model, walk_ids).order_by(*newest).offset(skip).limit(take)
    if not few:
        return _PageStatements(walk)
    # Ordered by the column alone: the n-th value does not depend on how ties are broken, and
    # (department_id, col) then serves each department's top n without a sort.
    tops = [
        select(column.label("v"))
        .where(model.department_id == bindparam(f"d{i}", type_=Integer, literal_execute=True), *where)
        .order_by(ordered_by)
        .limit(window)
        .subquery()
        for i in range(len(departments))
    ]
    merged = union_all(*(select(t.c.v) for t in tops)).subquery()
    # The value as the database stores it (NullType: no conversion either way). SQLite keeps datetimes
    # as text, and rows written by different clients differ in format ('…:40' vs '…:40.000000'): a
    # cut-off converted to Python and back would not equal the row it came from.
    raw = type_coerce(merged.c.v, NullType())
    last = bindparam("last", type_=Integer, literal_execute=True)
    cutoff = select(raw).order_by(merged.c.v.desc() if descending else merged.c.v.asc()).offset(last).limit(1)
    if typed:
        # A server type (timestamp) round-trips exactly; as a literal, the bounded page has no
        # parameter left and is planned once per prepared statement, as the walk is.
        value, stored = bindparam("cutoff", type_=column.type, literal_execute=True), column
    else:
        value, stored = bindparam("cutoff", type_=NullType()), type_coerce(column, NullType())
    bound = stored >= value if descending else stored <= value
    ids = union(*(select(model.id).where(b, bound, *where) for b in branches)).subquery()
    bounded = _by_ids(model, ids).order_by(*newest).offset(skip).limit(take)
    return _PageStatements(walk, cutoff, bounded)


@functools.lru_cache(maxsize=256)
def _kept(
    model: Any,
    object_type: str,
    column_key: str,
    descending: bool,
    chain: tuple[int, ...],
    departments: tuple[int, ...],
    few: bool,
    typed: bool,
    probe: bool,
) -> _PageStatements:
    """``_page_statements`` kept per principal's shape: a manager's next page, or the same question
    in the next turn, reuses the built statements and SQLAlchemy's compiled SQL for them (ids and
    all), instead of rendering a region head's ~1,000 ids into the SQL again (~1 us each)."""
    return _page_statements(model, object_type, column_key, descending, chain, departments, few, typed, probe)


def _team_probe(model: Any, kind: Any, chain: tuple[int, ...]) -> ColumnElement[bool]:
    """"Someone in ``chain`` is on this record's related team", probed for the row at hand (a scalar
    primary-key sub-query, not EXISTS: PostgreSQL turns EXISTS back into the hashed whole-team set;
    ``user_id + 0``: SQLite would otherwise search (user_id, ...) once per chain member, per row)."""
    one = bindparam("one", 1, type_=Integer, literal_execute=True)
    member = (
        select(RecordTeamMember.record_id)
        .where(
            RecordTeamMember.object_type == kind,
            RecordTeamMember.record_id == model.id,
            _id_list(RecordTeamMember.user_id + literal_column("0"), chain),
        )
        .limit(one)
        .scalar_subquery()
    )
    return member.is_not(None)


def _id_list(column: Any, ids: tuple[int, ...]) -> ColumnElement[bool]:
    """``column IN (1, 2, …)`` with the ids in the SQL text itself, rendered once: safe because every
    id goes through int() here; an empty list matches nothing."""
    if not ids:
        return false()
    return column.op("IN", is_comparison=True)(literal_column("(" + ", ".join(str(int(i)) for i in ids) + ")"))  # type: ignore[no-any-return]


def _by_ids(model: Any, ids: Any) -> Select[Any]:
    # ``IN (SELECT id FROM (…) t)``, not ``IN (… LIMIT n)``: MariaDB refuses LIMIT in an IN sub-query.
    return select(model).where(model.id.in_(select(ids.c.id)))


def _page_order(model: Any, order_by: Any) -> tuple[Any, bool]:
    """The model's NOT NULL column the page is ordered by and its direction, if a
    ``(department_id, column)`` index serves it; else ``(None, False)``."""
    if isinstance(order_by, list | tuple):
        if len(order_by) != 1:
            return None, False
        order_by = order_by[0]
    descending = False
    element = order_by
    if isinstance(order_by, UnaryExpression) and order_by.modifier in (operators.desc_op, operators.asc_op):
        descending = order_by.modifier is operators.desc_op
        element = order_by.element
    name = getattr(element, "key", None)
    table_column = model.__table__.c.get(name) if isinstance(name, str) else None
    # Only a plain column of this very table (not an expression, not another table's column).
    if table_column is None or getattr(element, "table", None) is not model.__table__ or table_column.nullable:
        return None, False
    served = any(
        [c.name for c in ix.columns] == ["department_id", table_column.name]
        for ix in getattr(model.__table__, "indexes", ())
    )
    return (getattr(model, table_column.key), descending) if served else (None, False)


# --- the visibility closure: who sees each opportunity through the org chart --------------------------
#
# ``opportunity_visibility`` holds, per deal, every user who sees it as owner, related-team member,
# someone above either in the line-manager chain, or head of its department or of one above it (the
# ``chain`` and headed-department branches of the predicate), and minus every opportunity sharing rule's
# source department at or above its department (the grants' department branch). "The n newest deals I
# may see" is then the newest n of one index range per key: my user id, and minus each rule source I am
# granted. The page still tests the predicate's branches on those n rows, so a closure that missed a
# change can leave a deal out of a page but never show one the policy does not grant.
#
# Kept here: ``rebuild_visibility`` (all of it), and every ORM flush that touches deals or their related
# teams refreshes those deals' rows (``_follow_flush``). Changes it cannot follow row by row (the line
# managers, department heads, the department tree, sharing rules) turn it off (``invalidate_visibility``)
# until the next rebuild; so does an ORM bulk write to those tables. Writes that bypass the ORM Session
# (Core or raw SQL) must call ``rebuild_visibility`` or ``invalidate_visibility`` themselves.

VISIBILITY_STATE_ID = 1
_VISIBILITY_CHUNK = 50_000


@dataclass
class _Org:
    """The org chart as the closure needs it, with the answers memoised per person and department."""

    managers: dict[int, int]
    parents: dict[int, int]
    heads: dict[int, list[int]]
    sources: frozenset[int]
    _up: dict[int, frozenset[int]] = dataclasses.field(default_factory=dict)
    _above: dict[int | None, frozenset[int]] = dataclasses.field(default_factory=dict)

    def up(self, user_id: int) -> frozenset[int]:
        """The user and everyone above them in the line-manager chain (whose ``chain_ids`` hold them)."""
        got = self._up.get(user_id)
        if got is None:
            seen: list[int] = []
            cur: int | None = user_id
            while cur is not None and cur not in seen:
                seen.append(cur)
                cur = self.managers.get(cur)
            got = self._up[user_id] = frozenset(seen)
        return got

    def above(self, department_id: int | None) -> frozenset[int]:
        """Heads of the department and of every one above it; minus the rule sources among them."""
        got = self._above.get(department_id)
        if got is None:
            keys: set[int] = set()
            seen: set[int] = set()
            cur = department_id
            while cur is not None and cur not in seen:
                seen.add(cur)
                keys.update(self.heads.get(cur, ()))
                if cur in self.sources:
                    keys.add(-cur)
                cur = self.parents.get(cur)
            got = self._above[department_id] = frozenset(keys)
        return got

    def viewers(self, owner_id: int | None, department_id: int | None, members: Iterable[int]) -> set[int]:
        keys = set(self.above(department_id))
        for person in (owner_id, *members):
            if person is not None:
                keys |= self.up(person)
        return keys


def _load_org(
    conn: Connection, people: Iterable[int] | None = None, departments: Iterable[int] | None = None
) -> _Org:
    """The whole org chart; or, given ``people`` and ``departments``, only the chains above them (a few
    small queries: a deal edit in a 10,000-person org need not read every user)."""
    if people is None or departments is None:
        managers = {int(u): int(m) for u, m in conn.execute(select(User.id, User.manager_id)) if m is not None}
        tree = conn.execute(select(Department.id, Department.parent_id))
        parents = {int(d): int(p) for d, p in tree if p is not None}
        head_rows = conn.execute(select(DepartmentHead.department_id, DepartmentHead.user_id))
    else:
        managers = _walk_up(conn, User.id, User.manager_id, people)
        parents = _walk_up(conn, Department.id, Department.parent_id, departments)
        reached = sorted({*parents, *parents.values(), *(int(d) for d in departments)})
        head_rows = conn.execute(
            select(DepartmentHead.department_id, DepartmentHead.user_id).where(
                DepartmentHead.department_id.in_(reached)
            )
        )
    heads: dict[int, list[int]] = {}
    for d, u in head_rows:
        heads.setdefault(int(d), []).append(int(u))
    sources = frozenset(
        int(d or 0)
        for d in conn.scalars(
            select(SharingRule.source_department_id).where(
                SharingRule.object_type == "opportunity",
                SharingRule.source_kind == "department",
                SharingRule.access.in_(GRANT_ACCESS),
                SharingRule.source_department_id.is_not(None),
            )
        )
    )
    return _Org(managers, parents, heads, sources)


def _walk_up(conn: Connection, key: Any, parent: Any, start: Iterable[int]) -> dict[int, int]:
    """``{id: parent id}`` for ``start`` and everything above it, one query per level."""
    links: dict[int, int] = {}
    seen: set[int] = set()
    frontier = {int(i) for i in start}
    while frontier:
        seen |= frontier
        found = conn.execute(select(key, parent).where(key.in_(sorted(frontier)), parent.is_not(None))).all()
        links.update({int(k): int(p) for k, p in found})
        frontier = {int(p) for _, p in found} - seen
    return links


def rebuild_visibility(conn: Connection) -> int:
    """Rebuild ``opportunity_visibility`` from scratch and trust it from now on; returns its row count."""
    org = _load_org(conn)
    closure: Any = OpportunityVisibility.__table__
    conn.execute(closure.delete())
    members: dict[int, list[int]] = {}
    team = select(RecordTeamMember.record_id, RecordTeamMember.user_id).where(
        RecordTeamMember.object_type == "opportunity"
    )
    for record_id, user_id in conn.execute(team):
        members.setdefault(int(record_id), []).append(int(user_id))
    # ``updated_at`` copied as the database stores it (see _page_statements on SQLite's datetime text).
    raw = type_coerce(Opportunity.updated_at, NullType())
    written, last = 0, None
    while True:
        chunk = select(Opportunity.id, Opportunity.owner_id, Opportunity.department_id, raw).order_by(Opportunity.id)
        if last is not None:
            chunk = chunk.where(Opportunity.id > last)
        rows = conn.execute(chunk.limit(_VISIBILITY_CHUNK)).all()
        if not rows:
            break
        last = rows[-1][0]
        written += _write_visibility(conn, (
            (viewer, stamp, opp)
            for opp, owner, department, stamp in rows
            for viewer in org.viewers(owner, department, members.get(opp, ()))
        ))
    state: Any = OpportunityVisibilityState.__table__
    conn.execute(state.delete())
    conn.execute(state.insert().values(
        id=VISIBILITY_STATE_ID, fresh=True, sources=",".join(str(d) for d in sorted(org.sources))
    ))
    return written


def refresh_visibility(conn: Connection, opportunity_ids: Iterable[int]) -> None:
    """Rewrite the closure rows of these deals (inserted, changed or deleted), if the closure is trusted."""
    ids = sorted({int(i) for i in opportunity_ids})
    if not ids or _visibility_state(conn) is None:
        return
    table: Any = OpportunityVisibility.__table__
    for start in range(0, len(ids), 500):
        some = ids[start : start + 500]
        conn.execute(table.delete().where(table.c.opportunity_id.in_(some)))
        members: dict[int, list[int]] = {}
        team = select(RecordTeamMember.record_id, RecordTeamMember.user_id).where(
            RecordTeamMember.object_type == "opportunity", RecordTeamMember.record_id.in_(some)
        )
        for record_id, user_id in conn.execute(team):
            members.setdefault(int(record_id), []).append(int(user_id))
        rows = conn.execute(
            select(Opportunity.id, Opportunity.owner_id, Opportunity.department_id,
                   type_coerce(Opportunity.updated_at, NullType())).where(Opportunity.id.in_(some))
        ).all()
        people = {int(o) for _, o, _, _ in rows if o is not None} | {u for m in members.values() for u in m}
        org = _load_org(conn, people, {int(d) for _, _, d, _ in rows if d is not None})
        _write_visibility(conn, (
            (viewer, stamp, opp)
            for opp, owner, department, stamp in rows
            for viewer in org.viewers(owner, department, members.get(opp, ()))
        ))


def visibility_trusted(conn: Connection) -> bool:
    """Whether managers' pages may use the closure now (it was rebuilt and nothing turned it off since)."""
    return _visibility_state(conn) is not None


def invalidate_visibility(conn: Connection) -> None:
    """Stop trusting the closure (pages take the other plans) until ``rebuild_visibility``."""
    state: Any = OpportunityVisibilityState.__table__
    conn.execute(state.update().where(state.c.id == VISIBILITY_STATE_ID).values(fresh=False))


_STATE_SQL = f"SELECT fresh, sources FROM opportunity_visibility_state WHERE id = {VISIBILITY_STATE_ID}"
_STATE_KEY = "copilot.crm.permissions.visibility_state"


def _session_visibility_state(session: Session) -> frozenset[int] | None:
    """``_visibility_state`` read once per transaction of the Session (a turn's pages share it; a round
    trip per page cost ~50 us of client CPU on PostgreSQL); this Session's own flushes that change it
    drop it (``_follow_flush``). A change another transaction commits meanwhile is seen from the next
    transaction on; the rows of a page are tested against the predicate in any case (``Page.admitted``)."""
    transaction = session.get_transaction()
    kept = session.info.get(_STATE_KEY)
    if kept is not None and transaction is not None and kept[0] is transaction:
        return kept[1]  # type: ignore[no-any-return]
    state = _visibility_state(session.connection())
    session.info[_STATE_KEY] = (session.get_transaction(), state)
    return state


def _visibility_state(conn: Connection) -> frozenset[int] | None:
    """The rule sources of a trusted closure, or None when it is not to be trusted (or not there)."""
    # One fixed text, no statement to compile (asked before every closure page: ~10 us against ~60 us
    # through Core), prepared by PostgreSQL's driver after a few runs.
    row = conn.exec_driver_sql(_STATE_SQL).first()
    if row is None or not row[0]:
        return None
    return frozenset(int(d) for d in str(row[1]).split(",") if d)


def _write_visibility(conn: Connection, rows: Iterable[tuple[int, Any, int]]) -> int:
    """Bulk-write closure rows: COPY on PostgreSQL, DBAPI executemany elsewhere (values as stored)."""
    n = 0
    if conn.dialect.name == "postgresql":
        raw: Any = conn.connection.driver_connection
        sql = "COPY opportunity_visibility (viewer, updated_at, opportunity_id) FROM STDIN"
        with raw.cursor() as cur, cur.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
                n += 1
        return n
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO opportunity_visibility (viewer, updated_at, opportunity_id) VALUES ({mark}, {mark}, {mark})"
    batch: list[tuple[int, Any, int]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= 10_000:
            conn.exec_driver_sql(sql, batch)  # type: ignore[arg-type]
            n += len(batch)
            batch = []
    if batch:
        conn.exec_driver_sql(sql, batch)  # type: ignore[arg-type]
        n += len(batch)
    return n


# What a flush may change, and how the closure follows: any change to a deal or its related team
# rewrites that deal's rows; these columns of the org chart change everybody's (so the closure is
# turned off until rebuilt).
_ORG_COLUMNS: dict[str, tuple[str, ...]] = {
    "users": ("id", "manager_id"),
    "departments": ("id", "parent_id"),
    "department_heads": (),  # any change
    "sharing_rules": (),
}
_FOLLOWED_TABLES = frozenset({"opportunities", "record_team_members", *_ORG_COLUMNS})


def _follow_flush(session: Session, _context: Any) -> None:
    from sqlalchemy import inspect as sa_inspect

    deals: set[int] = set()
    org_changed = False
    for obj in (*session.new, *session.dirty, *session.deleted):
        table = getattr(obj, "__tablename__", None)
        if table not in _FOLLOWED_TABLES:
            continue
        state: Any = sa_inspect(obj)
        if table == "opportunities":
            # Any change at all: every UPDATE also moves updated_at (onupdate), the closure's order.
            if obj in session.dirty and not session.is_modified(obj):
                continue
            deals.add(int(obj.id))
            deals.update(int(v) for v in state.attrs.id.history.deleted if v is not None)
        elif table == "record_team_members":
            kinds = {obj.object_type, *state.attrs.object_type.history.deleted}
            if "opportunity" in kinds:
                deals.add(int(obj.record_id))
                deals.update(int(v) for v in state.attrs.record_id.history.deleted if v is not None)
        elif obj in session.new and table in ("users", "departments"):
            continue  # nobody reports to, or sits in, what did not exist: no deal's viewers change
        elif not _ORG_COLUMNS[table] or obj in session.deleted or _changed(state, _ORG_COLUMNS[table]):
            org_changed = True
    if not deals and not org_changed:
        return
    conn = session.connection()
    session.info.pop(_STATE_KEY, None)
    if org_changed:
        invalidate_visibility(conn)
    else:
        refresh_visibility(conn, deals)


def _changed(state: Any, columns: Sequence[str]) -> bool:
    return any(state.attrs[c].history.has_changes() for c in columns)


def _follow_bulk(orm_execute_state: Any) -> None:
    """An ORM bulk INSERT/UPDATE/DELETE on a table the closure follows: it cannot tell which rows."""
    if not (orm_execute_state.is_insert or orm_execute_state.is_update or orm_execute_state.is_delete):
        return
    table = getattr(orm_execute_state.statement, "table", None)
    if getattr(table, "name", None) in _FOLLOWED_TABLES:
        orm_execute_state.session.info.pop(_STATE_KEY, None)
        invalidate_visibility(orm_execute_state.session.connection())


event.listen(Session, "after_flush", _follow_flush)
event.listen(Session, "do_orm_execute", _follow_bulk)


def _closure_page(
    session: Session, principal: Principal, parts: _Parts, model: Any, descending: bool, limit: int, offset: int
) -> Page | None:
    """The page from the closure, or None when it is not trusted or does not cover this principal."""
    sources = _session_visibility_state(session)
    if sources is None:
        return None
    granted: set[int] = set()
    for grant in principal.grants:
        if grant.object_type == "opportunity" and grant.access in GRANT_ACCESS and grant.source_department_ids:
            granted |= grant.source_department_ids
    keys = (int(principal.user_id), *sorted(-d for d in granted & sources))
    if granted and len(keys) == 1:
        return None  # a grant the closure was not built for (a rule written outside the ORM): other plans
    statement = _closure_statement(model, keys, descending, limit + offset, limit, offset)
    return Page(statement, {}, "closure", principal)


def _admitted(session: Session, principal: Principal, rows: Sequence[Any]) -> list[Any]:
    """``rows`` (opportunities) that pass the predicate's department, owner and related-team branches,
    tested in Python on the loaded rows: in SQL, SQLite builds every literal id list at the start of each
    execution (a region head's ~1,000 ids twice: ~150 us, as much as the page itself)."""
    departments = set(principal.headed_department_ids)
    for grant in principal.grants:
        if grant.object_type == "opportunity" and grant.access in GRANT_ACCESS and grant.source_department_ids:
            departments |= grant.source_department_ids
    mine, below = principal.user_id, principal.subordinate_ids
    doubtful = [
        r.id for r in rows
        if r.department_id not in departments and r.owner_id != mine and r.owner_id not in below
    ]
    if not doubtful:
        return list(rows)
    # Plain SQL text with the (int) ids in it: nothing to compile for a query most pages never send.
    team = (
        "SELECT record_id, user_id FROM record_team_members WHERE object_type = 'opportunity' "
        f"AND record_id IN ({', '.join(str(int(i)) for i in doubtful)})"
    )
    on_team = {int(r) for r, u in session.connection().exec_driver_sql(team) if u == mine or u in below}
    return [r for r in rows if r.id not in doubtful or r.id in on_team]


@functools.lru_cache(maxsize=256)
def _closure_statement(
    model: Any, keys: tuple[int, ...], descending: bool, window: int, take: int, skip: int
) -> Select[Any]:
    """The deals behind the newest ``window`` entries of each key's index range, ordered and sliced (the
    rows are then tested against the predicate: ``Page.admitted``). No parameter left: PostgreSQL plans
    it once per prepared statement (see _page_statements). Kept per shape."""
    v: Any = OpportunityVisibility
    order = [c.desc() if descending else c.asc() for c in (v.updated_at, v.opportunity_id)]

    def number(n: int) -> Any:  # in the SQL text: nothing for SQLAlchemy to render per execution
        return literal_column(str(int(n)), Integer)

    ranges = [
        select(v.opportunity_id.label("id")).where(v.viewer == number(k)).order_by(*order)
        .limit(number(window)).subquery()
        for k in keys
    ]
    ids = ranges[0] if len(ranges) == 1 else union_all(*(select(r.c.id) for r in ranges)).subquery()
    newest = (model.updated_at.desc(), model.id.desc()) if descending else (model.updated_at.asc(), model.id.asc())
    return _by_ids(model, ids).order_by(*newest).offset(number(skip)).limit(number(take))


def _in_ids(column: Any, ids: Iterable[int]) -> ColumnElement[bool]:
    """``column IN (1, 2, …)`` with the ids written into the SQL, not bound one parameter each.

    A region head's chain is ~1,000 users: as bound parameters that costs ~25 ms per query on
    PostgreSQL in parameter handling alone (bench/permissions.py: 30.5 ms bound vs 5.3 ms inline).
    Safe to inline because every value is forced through int().
    """
    values = sorted({int(i) for i in ids})
    return column.in_(bindparam(None, values, type_=Integer, expanding=True, literal_execute=True))  # type: ignore[no-any-return]


def condition_clause(model: Any, condition: Mapping[str, Any]) -> ColumnElement[bool] | None:
    """A sharing-rule condition as SQL. Unknown fields or operators match nothing (fail closed).

    The condition is JSON, so its value is coerced to the column's type first (a date arrives as an
    ISO string, a number may arrive as a string): comparing a column with a value of another type is
    an error on PostgreSQL and means something different on each other backend. A value that does not
    fit the column, a JSON column, or an ordering on ``None`` match nothing. An empty (NULL) field
    matches no condition except ``eq None``.
    """
    field, op, value = condition.get("field"), condition.get("op"), condition.get("value")
    column = model.__table__.c.get(field) if isinstance(field, str) else None
    if column is None or op not in CONDITION_OPS or isinstance(column.type, JSON):
        return None
    if op == "in":
        values = value if isinstance(value, list | tuple) else [value]
        coerced = [c for c in (_coerce(column, v) for v in values) if c is not _NO_MATCH and c is not None]
        if not coerced:
            return false()
        return or_(*(column == c for c in coerced))
    bound = _coerce(column, value)
    if bound is _NO_MATCH:
        return false()
    if bound is None:
        if op == "eq":
            return column.is_(None)  # type: ignore[no-any-return]
        if op == "ne":
            return column.is_not(None)  # type: ignore[no-any-return]
        return false()
    if op == "eq":
        return column == bound  # type: ignore[no-any-return]
    if op == "ne":
        return column != bound  # type: ignore[no-any-return]
    if op == "gte":
        return column >= bound  # type: ignore[no-any-return]
    return column <= bound  # type: ignore[no-any-return]


_NO_MATCH: Any = object()


def _coerce(column: Any, value: Any) -> Any:
    """``value`` as a bind parameter of the column's type, ``None``, or ``_NO_MATCH``."""
    if value is None:
        return None
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        return _NO_MATCH
    if python_type is bool:
        return value if isinstance(value, bool) else _NO_MATCH
    if python_type in (int, Decimal, float):
        if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
            return _NO_MATCH
        if isinstance(value, float) and not math.isfinite(value):
            return _NO_MATCH
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            return _NO_MATCH
        if not number.is_finite():
            return _NO_MATCH
        # Bound as NUMERIC so that 2.5 against an integer column compares exactly everywhere.
        return literal(number, Numeric())
    if python_type is str:
        return value if isinstance(value, str) else _NO_MATCH
    if python_type is dt.datetime:
        try:
            return dt.datetime.fromisoformat(value) if isinstance(value, str) else _NO_MATCH
        except ValueError:
            return _NO_MATCH
    if python_type is dt.date:
        try:
            return dt.date.fromisoformat(value) if isinstance(value, str) else _NO_MATCH
        except ValueError:
            return _NO_MATCH
    return _NO_MATCH


def validate_condition(object_type: str, condition: Mapping[str, Any]) -> None:
    """Reject a sharing-rule condition that names no real field or operator."""
    model: Any = model_for(object_type)
    if condition.get("field") not in model.__table__.c:
        raise BadRequest(f"sharing condition: {object_type} has no field {condition.get('field')!r}")
    if condition.get("op") not in CONDITION_OPS:
        raise BadRequest(f"sharing condition: operator must be one of {CONDITION_OPS}")


# --- single records -----------------------------------------------------------------------------


def get_visible(session: Session, principal: Principal, object_type: str, record_id: int) -> Any:
    """The record if the principal may read it. Invisible and missing look the same (404), so the
    answer never confirms that a record exists."""
    model: Any = model_for(object_type)
    row = session.scalar(select(model).where(model.id == record_id, read_filter(principal, object_type)))
    if row is None:
        raise NotFound(f"{object_type} {record_id} not found")
    return row


def can(session: Session, principal: Principal, object_type: str, record_id: int, mode: str = READ) -> bool:
    model: Any = model_for(object_type)
    predicate = _filter(principal, object_type, mode)
    return session.scalar(select(model.id).where(model.id == record_id, predicate)) is not None


def require_write(session: Session, principal: Principal, object_type: str, record_id: int) -> Any:
    """The record if the principal may change it (``write_filter``): the check every confirmed action's write
    passes. A record they may not even read is NotFound (as if missing); one they read but may not change
    is Forbidden."""
    model: Any = model_for(object_type)
    row = session.scalar(select(model).where(model.id == record_id, write_filter(principal, object_type)))
    if row is not None:
        return row
    if can(session, principal, object_type, record_id, READ):
        raise Forbidden(f"you may read {object_type} {record_id} but not change it")
    raise NotFound(f"{object_type} {record_id} not found")


def may_add_collaborator(principal: Principal, colleague_partner_id: int | None) -> bool:
    """May the principal put a colleague on a record's team (the @-collaboration)? An employee adds
    employees; a partner user only people of their own company. Write access to the record is checked
    separately (``require_write``)."""
    if not principal.roles:
        return False
    if principal.is_partner:
        return colleague_partner_id == principal.partner_id
    return colleague_partner_id is None


def may_read_internal_notes(principal: Principal) -> bool:
    """Internal comments on a ticket (``author_kind`` internal) are the vendor's own: employees read them,
    a channel partner's user never does, even on its company's ticket."""
    return bool(principal.roles) and not principal.is_partner


def visible_select(principal: Principal, object_type: str) -> Any:
    """``select(Model)`` already restricted to what the principal may read."""
    model: Any = model_for(object_type)
    return select(model).where(read_filter(principal, object_type))


# --- field-level security: an allow-list per role ---------------------------------------------------

FIELD_ACCESS_PATH = Path(__file__).with_name("field_access.yaml")


@functools.cache
def _field_access() -> tuple[dict[str, dict[str, frozenset[str]]], dict[str, frozenset[tuple[str, str]]]]:
    """field_access.yaml as (object type → group → columns, role → granted (object type, column)).

    Checked against the models: a group naming a column or object type that does not exist is a
    configuration error, never a silently ignored grant.
    """
    raw = yaml.safe_load(FIELD_ACCESS_PATH.read_text(encoding="utf-8")) or {}
    groups: dict[str, dict[str, frozenset[str]]] = {}
    for object_type, named in (raw.get("groups") or {}).items():
        columns = _columns(object_type)
        if not columns:
            raise ConfigError(f"{FIELD_ACCESS_PATH.name}: unknown object type {object_type!r}")
        groups[object_type] = {}
        for name, fields in (named or {}).items():
            unknown = set(fields) - columns
            if unknown:
                raise ConfigError(f"{FIELD_ACCESS_PATH.name}: {object_type} has no column {sorted(unknown)[0]!r}")
            groups[object_type][str(name)] = frozenset(fields)
    grants: dict[str, frozenset[tuple[str, str]]] = {}
    for role, names in (raw.get("roles") or {}).items():
        granted: set[tuple[str, str]] = set()
        for entry in names or ():
            object_type, _, name = str(entry).rpartition(".")
            types = [object_type] if object_type else list(groups)
            if object_type and name not in groups.get(object_type, {}):
                raise ConfigError(f"{FIELD_ACCESS_PATH.name}: role {role!r} names unknown group {entry!r}")
            if not object_type and not any(name in g for g in groups.values()):
                raise ConfigError(f"{FIELD_ACCESS_PATH.name}: role {role!r} names unknown group {entry!r}")
            for t in types:
                granted |= {(t, f) for f in groups[t].get(name, ())}
        grants[str(role)] = frozenset(granted)
    return groups, grants


@functools.cache
def _columns(object_type: str) -> frozenset[str]:
    try:
        model: Any = model_for(object_type)
    except BadRequest:
        return frozenset()
    return frozenset(c.key for c in model.__table__.columns)


@functools.lru_cache(maxsize=4096)
def _visible_fields(
    roles: frozenset[str], object_type: str, denials: frozenset[tuple[str, str, str]]
) -> frozenset[str]:
    grants = _field_access()[1]
    visible: set[str] = set()
    for role in roles:
        denied = {f for r, t, f in denials if r == role and t == object_type}
        visible |= {f for t, f in grants.get(role, frozenset()) if t == object_type and f not in denied}
    return frozenset(visible)


def visible_fields(principal: Principal, object_type: str) -> frozenset[str]:
    """The columns of ``object_type`` the principal may see: every column for an admin; otherwise the
    union, over the principal's roles, of what field_access.yaml grants the role minus the deployment's
    FieldPermission rows for it. A column granted to none of their roles is not seen (allow-list)."""
    if principal.is_admin:
        return _columns(object_type)
    return _visible_fields(principal.roles, object_type, principal.field_denials)


def hidden_fields(principal: Principal, object_type: str) -> frozenset[str]:
    """The columns of ``object_type`` the principal may not see (everything not granted)."""
    return _columns(object_type) - visible_fields(principal, object_type)


def mask(principal: Principal, object_type: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """The granted fields of a record, as a new dict. Keys that are not a granted column of the type
    are dropped for everyone but an admin: what is not on the allow-list does not leave."""
    if principal.is_admin:
        return dict(data)
    allowed = visible_fields(principal, object_type)
    return {k: v for k, v in data.items() if k in allowed}


# --- what a query handed to the repository may name ---------------------------------------------------

# The one column of ``Records.visible_ids``: a sub-select that carries it was built by the repository,
# with the principal's read predicate inside.
VISIBLE_IDS_LABEL = "records_visible_id"


def check_query_parts(principal: Principal, object_type: str, parts: Iterable[Any]) -> None:
    """Refuse filters, orderings and selected columns that would reach past the policy (Forbidden).

    A part may name the object's own columns only, minus those field-level security hides from the
    principal (a filter on a hidden amount reveals it one comparison at a time). Another table's rows
    come in only through ``visible_ids`` sub-selects; any other sub-select, and raw SQL text, is refused:
    the repository, not the caller, decides which rows a query may touch.
    """
    table = model_for(object_type).__table__  # type: ignore[attr-defined]
    hidden = hidden_fields(principal, object_type)
    stack = [_clause(p) for p in parts]
    while stack:
        element = stack.pop()
        if element is None:
            continue
        if isinstance(element, ScalarSelect | Subquery | Exists):
            element = element.element
        if isinstance(element, Select):
            if list(element.selected_columns.keys()) != [VISIBLE_IDS_LABEL]:
                raise Forbidden(f"a {object_type} query may use other records only through visible_ids()")
            continue  # built by the repository, with the principal's read predicate inside
        if isinstance(element, TextClause | TableClause) and not isinstance(element, Table):
            raise Forbidden(f"a {object_type} query may not contain SQL text")
        if isinstance(element, Table):
            if element is not table:
                raise Forbidden(f"a {object_type} query may not name the table {element.name!r}")
            continue
        if isinstance(element, ColumnClause):
            if element.table is None and element.name == "*":
                continue  # count(*)
            if element.table is not table:
                where = getattr(element.table, "name", "no table")
                raise Forbidden(f"a {object_type} query may name its own columns only, not {where}.{element.name}")
            if element.key in hidden:
                raise Forbidden(f"{object_type}.{element.key} is not visible to you")
            continue
        stack.extend(element.get_children())


def _clause(part: Any) -> Any:
    if isinstance(part, type):  # a mapped class: "the whole row", column by column as masked later
        return None
    coerce = getattr(part, "__clause_element__", None)
    return coerce() if callable(coerce) else part


def to_dict(record: Any) -> dict[str, Any]:
    return {c.key: getattr(record, c.key) for c in record.__table__.columns}


def visible_dict(principal: Principal, object_type: str, record: Any) -> dict[str, Any]:
    return mask(principal, object_type, to_dict(record))


# --- capabilities: what a principal may do besides reading records -------------------------------

# Who may add, replace or remove knowledge-base documents.
KB_WRITER_ROLES = frozenset({"admin", "knowledge_manager"})


def may_use_skill(principal: Principal, required_roles: Iterable[str]) -> bool:
    """May the principal run a skill that needs any one of ``required_roles``?

    Admins run every skill; an empty list means every signed-in user. A principal with no roles runs
    nothing (deny by default). The assistant, the router, ``GET /v1/skills`` and the MCP tool list
    all ask this one function, so what a caller is offered is exactly what they may run.
    """
    if isinstance(required_roles, str):
        raise TypeError("required_roles is a collection of role names, not one string")
    if not principal.roles:
        return False
    needed = frozenset(required_roles)
    return principal.is_admin or not needed or not needed.isdisjoint(principal.roles)


def may_write_knowledge_base(principal: Principal) -> bool:
    return not principal.roles.isdisjoint(KB_WRITER_ROLES)


# Who may write records, people and permission rules through the sync API (``/v1/crm``): a host CRM's
# integration account, or an admin. Sync writes are the host's own data arriving, not a user's edit, so they
# are not checked against the record-level write filter: the token's role is the whole decision.
SYNC_ROLES = frozenset({"admin", "integration"})


def may_sync_records(principal: Principal) -> bool:
    return not principal.is_partner and not principal.roles.isdisjoint(SYNC_ROLES)


def may_read_prompts(principal: Principal) -> bool:
    """Prompt templates are internal material (system prompts, grounding rules): employees only."""
    return bool(principal.roles) and not principal.is_partner


def may_render_prompt(principal: Principal, required_roles: Iterable[str] = ()) -> bool:
    """May the principal render a template (``required_roles``: those of the skill it belongs to)?

    Rendering with a record's facts is the skill run without the model, so it needs what running the
    skill needs; the record itself must still be visible (``get_visible``, 404 otherwise).
    """
    return may_read_prompts(principal) and may_use_skill(principal, required_roles)


# --- knowledge-base ACL vocabulary (onyx style) -------------------------------------------------

PUBLIC_TOKEN = "public"
INTERNAL_TOKEN = "internal"
# What a document without any visibility label gets: admins only (api.md "Knowledge-base documents").
UNLABELLED_VISIBILITY = "restricted"
_SCOPE_KEY = object()  # only this module holds it: nobody else can build an AclScope


@dataclasses.dataclass(frozen=True)
class AclScope:
    """What a reader may see of the knowledge base: everything (an admin), or the documents whose ACL
    tokens meet ``tokens``. Built only here (``acl_scope``, ``ACL_EVERYTHING``, ``scope_of_tokens``), so
    "no filter" is a value someone chose on purpose, never a ``None`` that slipped through."""

    everything: bool
    tokens: frozenset[str]
    _key: object = dataclasses.field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._key is not _SCOPE_KEY:
            raise TypeError("an AclScope is built by copilot.crm.permissions (acl_scope), not by hand")
        if not isinstance(self.everything, bool) or not isinstance(self.tokens, frozenset):
            raise TypeError("AclScope(everything: bool, tokens: frozenset[str])")


ACL_EVERYTHING = AclScope(True, frozenset(), _SCOPE_KEY)
ACL_NOTHING = AclScope(False, frozenset(), _SCOPE_KEY)


def scope_of_tokens(tokens: Iterable[str]) -> AclScope:
    """A scope holding exactly these tokens (benchmarks and tools that model a reader by tokens)."""
    if isinstance(tokens, str):
        raise TypeError("scope_of_tokens takes a collection of tokens, not one string")
    return AclScope(False, frozenset(str(t) for t in tokens), _SCOPE_KEY)


def role_token(role: str) -> str:
    return f"role:{role}"


def department_token(code: str) -> str:
    return f"dept:{code}"


def document_acl_tokens(
    visibility: str, roles: Iterable[str] = (), departments: Iterable[str] = ()
) -> frozenset[str]:
    """Who may read a document, as tokens. Raises on an unknown visibility (the file is rejected)."""
    if visibility == "public":
        return frozenset({PUBLIC_TOKEN})
    if visibility == "internal":
        return frozenset({INTERNAL_TOKEN})
    if visibility == "restricted":
        # An empty restricted list is readable by admins only: no token matches it.
        return frozenset({role_token(r) for r in roles} | {department_token(d) for d in departments})
    raise BadRequest(f"unknown visibility {visibility!r} (expected one of {', '.join(VISIBILITIES)})")


def acl_scope(principal: Principal) -> AclScope:
    """The principal's scope: everything for an admin; otherwise the tokens they hold (maybe none)."""
    if principal.is_admin:
        return ACL_EVERYTHING
    if not principal.roles:
        return ACL_NOTHING
    if principal.is_partner:
        return scope_of_tokens({PUBLIC_TOKEN})
    tokens = {PUBLIC_TOKEN, INTERNAL_TOKEN}
    tokens |= {role_token(r) for r in principal.roles}
    # A document for a department is readable in its sub-departments: hold every ancestor's token.
    tokens |= {department_token(c) for c in principal.ancestor_department_codes}
    return scope_of_tokens(tokens)


def acl_match(scope: AclScope, document_tokens: Iterable[str]) -> bool:
    """THE rule: may a reader with ``scope`` read a document (or ACL group) with these tokens?

    Used by the vector store to pick the collections a search may touch (and so the BM25 rows),
    by the document lookups of skills, and by the tests' oracle; ingestion files every document
    under its ``document_acl_tokens``. A document with no tokens matches only ``everything``.
    """
    if not isinstance(scope, AclScope):
        raise TypeError(f"expected an AclScope from copilot.crm.permissions, got {type(scope).__name__}")
    if isinstance(document_tokens, str):
        raise TypeError("document tokens are a collection of tokens, not one string")
    return scope.everything or not scope.tokens.isdisjoint(document_tokens)


def may_read_document(principal: Principal, document_tokens: Iterable[str]) -> bool:
    return acl_match(acl_scope(principal), document_tokens)
