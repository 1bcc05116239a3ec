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
    RecordTeamMember,
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
    chain = tuple(sorted(int(i) for i in principal.chain_ids))
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
    plan: str  # "cutoff" | "walk"


def page_select(
    session: Session,
    principal: Principal,
    object_type: str,
    where: Sequence[ColumnElement[bool]],
    order_by: Any,
    limit: int,
    offset: int = 0,
) -> Page | None:
    """One page ("the n newest") of the visible records, planned for a manager; ``None`` when the plain
    ``WHERE read_filter(...) ORDER BY ... LIMIT`` is the plan (the caller runs that).

    Why: a branch head sees ~1 % of a million deals, so "newest 50 I may see" walks ~5,000 index
    entries testing the predicate on each (7-16x the unfiltered query, bench/permissions.py).

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
        walk_branches = [branches[0], branches[1], member.is_not(None), *others]
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


def _id_list(column: Any, ids: tuple[int, ...]) -> ColumnElement[bool]:
    """``column IN (1, 2, …)`` with the ids in the SQL text itself, rendered once: safe because every
    id went through int() (_owned_parts); an empty list matches nothing."""
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
