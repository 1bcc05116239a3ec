"""A brute-force permission oracle: the rules of design.md, one record at a time, in plain Python.

Written from the design page and the seed book (section 3), not from ``copilot.crm.permissions`` or
``copilot.crm.principal``, and deliberately shaped differently: where the policy precomputes *down*
(a user's subordinates, the subtrees a head covers) and emits SQL, the oracle walks *up* from each
record (the owner's managers, the owning department's ancestors) and answers yes/no.

The world is loaded from the database as plain dicts (``load_world``), so the oracle also judges
what the backend really stored (decimals, dates, booleans).

Rules, in order:

1. Unknown object type: nobody. Catalogue (product): read for anyone with a role, write for admins.
2. Child types (``CHILD_TYPES``) follow their parent record, for read and for write.
3. No roles: nothing. ``admin`` role: everything.
4. Partner users: read and write exactly the records whose ``partner_id`` is their partner; nothing
   else applies to them (no object defaults, no sharing rules, no pool).
5. Object default (``object_settings``, else the built-in default): ``public_read_write`` → every
   employee reads and writes; ``public_read`` → every employee reads; ``private`` → neither; any
   other value → the object type is closed to everyone but admins (deny by default).
6. Owner and related-team members, and every line manager above any of them: read and write.
7. Heads and assistants of the owning department or of any ancestor of it: read and write.
8. Public pool (account, lead): a pooled record is readable (not writable) by members of its pool
   department and of that department's sub-departments.
9. Sharing rules (employees only): if the user is a target (role held; member of the target
   department or a sub-department of it; the target user; member of the target team) and the record
   is in the source (owning department in the source department's subtree; or the condition holds),
   ``read`` grants read and ``read_write`` grants both. Any other access value grants nothing.

Conditions are JSON data ``{"field", "op", "value"}`` evaluated with SQL's NULL logic: an unknown
field or operator, a JSON field, or a value that does not fit the field's type matches nothing; an
empty field matches nothing except ``eq None``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import JSON, Connection, select

from copilot.crm import models

READ, WRITE = "read", "write"

# The built-in object defaults (design: "object-level default per object type"), restated here.
BUILTIN_DEFAULTS = {
    "account": "private",
    "contact": "private",
    "lead": "private",
    "opportunity": "private",
    "activity": "private",
    "device": "public_read",
    "ticket": "private",
    "contract": "private",
    "campaign": "public_read",
}
POOLED_TYPES = ("account", "lead")

Row = dict[str, Any]
_NOTHING = object()


@dataclass
class World:
    departments: dict[int, Row] = field(default_factory=dict)
    users: dict[int, Row] = field(default_factory=dict)
    roles: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    heads: set[tuple[int, int]] = field(default_factory=set)  # (department_id, user_id)
    teams: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))  # team → users
    sharing_rules: list[Row] = field(default_factory=list)
    object_settings: dict[str, str] = field(default_factory=dict)
    records: dict[str, dict[int, Row]] = field(default_factory=lambda: defaultdict(dict))
    record_team: dict[tuple[str, int], set[int]] = field(default_factory=lambda: defaultdict(set))

    # --- the organisation, walked upwards -------------------------------------------------------

    def department_and_ancestors(self, department_id: int | None) -> list[int]:
        out: list[int] = []
        while department_id is not None and department_id not in out:
            out.append(department_id)
            department_id = self.departments[department_id]["parent_id"]
        return out

    def user_and_managers(self, user_id: int | None) -> list[int]:
        out: list[int] = []
        while user_id is not None and user_id not in out and user_id in self.users:
            out.append(user_id)
            user_id = self.users[user_id]["manager_id"]
        return out

    # --- the questions ---------------------------------------------------------------------------

    def can_read(self, user_id: int, object_type: str, record: Row) -> bool:
        return self.allowed(user_id, object_type, record, READ)

    def can_write(self, user_id: int, object_type: str, record: Row) -> bool:
        return self.allowed(user_id, object_type, record, WRITE)

    def visible_ids(self, user_id: int, object_type: str, mode: str) -> set[int]:
        return {rid for rid, rec in self.records[object_type].items() if self.allowed(user_id, object_type, rec, mode)}

    def allowed(self, user_id: int, object_type: str, record: Row, mode: str) -> bool:
        return bool(self.reasons(user_id, object_type, record, mode))

    def reasons(self, user_id: int, object_type: str, record: Row, mode: str) -> list[str]:
        """The names of every rule that lets the user read/write the record (empty: no access)."""
        return list(self._reasons(user_id, object_type, record, mode))

    def _reasons(self, user_id: int, object_type: str, record: Row, mode: str) -> Iterator[str]:
        roles = self.roles.get(user_id, set())
        if object_type in models.CATALOG_TYPES:
            if "admin" in roles:
                yield "admin"
            elif roles and mode == READ:
                yield "catalogue"
            return
        if object_type in models.CHILD_TYPES:
            _, fk, parent_type = models.CHILD_TYPES[object_type]
            parent = self.records[parent_type].get(record[fk])
            if parent is not None:
                yield from (f"parent:{r}" for r in self._reasons(user_id, parent_type, parent, mode))
            return
        if object_type not in models.OWNED_TYPES or not roles:
            return
        if "admin" in roles:
            yield "admin"
            return
        user = self.users[user_id]
        if user["partner_id"] is not None:
            if record["partner_id"] == user["partner_id"]:
                yield "partner"
            return

        default = self.object_settings.get(object_type, BUILTIN_DEFAULTS.get(object_type, "private"))
        if default not in ("private", "public_read", "public_read_write"):
            return
        if default == "public_read_write" or (default == "public_read" and mode == READ):
            yield default

        if user_id in self.user_and_managers(record["owner_id"]):
            yield "owner" if record["owner_id"] == user_id else "owner's manager"
        for member in self.record_team.get((object_type, record["id"]), set()):
            if user_id in self.user_and_managers(member):
                yield "related team" if member == user_id else "related team member's manager"

        owning = self.department_and_ancestors(record["department_id"])
        if any((d, user_id) in self.heads for d in owning):
            yield "department head"

        if (
            mode == READ
            and object_type in POOLED_TYPES
            and record["in_public_pool"]
            and record["pool_department_id"] is not None
            and record["pool_department_id"] in self.department_and_ancestors(user["department_id"])
        ):
            yield "public pool"

        for rule in self.sharing_rules:
            if rule["object_type"] != object_type or rule["access"] not in ("read", "read_write"):
                continue
            if mode == WRITE and rule["access"] != "read_write":
                continue
            if self._is_target(rule, user_id) and self._in_source(rule, object_type, record):
                yield f"sharing:{rule['source_kind']}->{rule['target_kind']}"

    def _is_target(self, rule: Row, user_id: int) -> bool:
        kind = rule["target_kind"]
        if kind == "role":
            return rule["target_role"] in self.roles.get(user_id, set())
        if kind == "department":
            member_of = self.department_and_ancestors(self.users[user_id]["department_id"])
            return rule["target_department_id"] is not None and rule["target_department_id"] in member_of
        if kind == "user":
            return bool(rule["target_user_id"] == user_id)
        if kind == "team":
            return user_id in self.teams.get(rule["target_team_id"], set())
        return False

    def _in_source(self, rule: Row, object_type: str, record: Row) -> bool:
        if rule["source_kind"] == "department":
            source = rule["source_department_id"]
            return source is not None and source in self.department_and_ancestors(record["department_id"])
        if rule["source_kind"] == "condition" and rule["condition"]:
            return condition_holds(object_type, rule["condition"], record)
        return False


# --- conditions --------------------------------------------------------------------------------


def _fit(python_type: type, value: Any) -> Any:
    """``value`` in the field's type, ``None``, or ``_NOTHING`` when it does not fit."""
    if value is None:
        return None
    if python_type is bool:
        return value if isinstance(value, bool) else _NOTHING
    if python_type in (int, Decimal, float):
        if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
            return _NOTHING
        if isinstance(value, float) and not math.isfinite(value):
            return _NOTHING
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            return _NOTHING
        return number if number.is_finite() else _NOTHING
    if python_type is str:
        return value if isinstance(value, str) else _NOTHING
    for kind in (dt.datetime, dt.date):
        if python_type is kind:
            if not isinstance(value, str):
                return _NOTHING
            try:
                return kind.fromisoformat(value)
            except ValueError:
                return _NOTHING
    return _NOTHING


def condition_holds(object_type: str, condition: Row, record: Row) -> bool:
    table = models.OWNED_TYPES[object_type].__table__  # type: ignore[attr-defined]
    name, op, value = condition.get("field"), condition.get("op"), condition.get("value")
    if not isinstance(name, str) or name not in table.c or isinstance(table.c[name].type, JSON):
        return False
    python_type = table.c[name].type.python_type
    actual = record[name]
    if isinstance(actual, int | float) and not isinstance(actual, bool) and python_type is not bool:
        actual = Decimal(str(actual))
    if op == "in":
        wanted = [_fit(python_type, v) for v in (value if isinstance(value, list | tuple) else [value])]
        return actual is not None and any(w is not _NOTHING and w is not None and actual == w for w in wanted)
    if op not in ("eq", "ne", "gte", "lte"):
        return False
    wanted = _fit(python_type, value)
    if wanted is _NOTHING:
        return False
    if wanted is None:
        return (op == "eq" and actual is None) or (op == "ne" and actual is not None)
    if actual is None:
        return False
    if op == "eq":
        return bool(actual == wanted)
    if op == "ne":
        return bool(actual != wanted)
    if op == "gte":
        return bool(actual >= wanted)
    return bool(actual <= wanted)


# --- loading -----------------------------------------------------------------------------------


def _rows(conn: Connection, table: Any) -> list[Row]:
    return [dict(r._mapping) for r in conn.execute(select(table))]


def load_world(conn: Connection) -> World:
    """Everything the rules read, straight from the tables, as plain dicts."""
    world = World()
    world.departments = {r["id"]: r for r in _rows(conn, models.Department.__table__)}
    world.users = {r["id"]: r for r in _rows(conn, models.User.__table__)}
    role_names = {r["id"]: r["name"] for r in _rows(conn, models.Role.__table__)}
    for r in _rows(conn, models.UserRole.__table__):
        world.roles[r["user_id"]].add(role_names[r["role_id"]])
    world.heads = {(r["department_id"], r["user_id"]) for r in _rows(conn, models.DepartmentHead.__table__)}
    for r in _rows(conn, models.TeamMember.__table__):
        world.teams[r["team_id"]].add(r["user_id"])
    world.sharing_rules = _rows(conn, models.SharingRule.__table__)
    world.object_settings = {r["object_type"]: r["default_access"] for r in _rows(conn, models.ObjectSetting.__table__)}
    for r in _rows(conn, models.RecordTeamMember.__table__):
        world.record_team[(r["object_type"], r["record_id"])].add(r["user_id"])
    for name, model in {**models.OWNED_TYPES, **models.CATALOG_TYPES}.items():
        world.records[name] = {r["id"]: r for r in _rows(conn, model.__table__)}  # type: ignore[attr-defined]
    for name, (model, _fk, _parent) in models.CHILD_TYPES.items():
        world.records[name] = {r["id"]: r for r in _rows(conn, model.__table__)}  # type: ignore[attr-defined]
    return world


# --- writing worlds (test helpers) ---------------------------------------------------------------


def clear_tables(conn: Connection) -> None:
    """Delete every row of the CRM schema, children first (cheaper than drop/create per example)."""
    for table in models.Base.metadata.sorted_tables:
        # MariaDB checks a self-reference row by row: cut users.manager_id / departments.parent_id first.
        self_refs = [fk.parent.name for fk in table.foreign_keys if fk.column.table is table]
        if self_refs:
            conn.execute(table.update().values(dict.fromkeys(self_refs)))
    for table in reversed(models.Base.metadata.sorted_tables):
        conn.execute(table.delete())


def insert_rows(conn: Connection, rows: dict[str, list[Row]]) -> None:
    """Insert rows table by table in schema dependency order; within a table, in list order."""
    for table in models.Base.metadata.sorted_tables:
        if rows.get(table.name):
            # One statement per row: a self-referencing table (users.manager_id) stays in order.
            for row in rows[table.name]:
                conn.execute(table.insert(), row)
