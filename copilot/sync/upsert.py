"""The one write path for imported and synced rows: validate a batch, resolve its references, upsert by
external id. Used by ``crm-copilot import``, the ``/v1/crm`` API and the demo installer.

A batch is all or nothing: every row is parsed and every reference resolved before anything is written,
and any row error leaves the batch unwritten (the caller rolls its transaction back). Writes are bulk
statements (one INSERT and one UPDATE per batch for the big object types), so an import runs near the
speed of a plain bulk insert. Nothing here commits: the caller owns the transaction.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import String, any_, bindparam, delete, insert, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from copilot.core.errors import BadRequest, Conflict, NotFound
from copilot.crm import models as m
from copilot.crm.permissions import validate_condition
from copilot.sync.convert import blank, convert
from copilot.sync.objects import NATURAL_KEYS, NO_EXTERNAL_ID, VIA_CONTACT, FieldSpec, ObjectSpec, spec_for

IN_CHUNK = 900  # values per IN (...) list: under SQLite's and every driver's parameter limits
REF_CACHE_SIZE = 100_000


@dataclass(frozen=True)
class RowError:
    """One reason a row was not imported, as the report shows it."""

    row: int | None
    column: str | None
    value: Any
    reason: str
    external_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        value = self.value if self.value is None or isinstance(self.value, (int, float, bool)) else str(self.value)
        return {"row": self.row, "column": self.column, "value": value, "reason": self.reason,
                "external_id": self.external_id}

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row is not None else (self.external_id or "record")
        col = f", column {self.column}" if self.column else ""
        val = f" = {self.value!r}" if self.value not in (None, "") else ""
        return f"{where}{col}{val}: {self.reason}"


@dataclass
class Item:
    """One incoming record: field name → raw value, plus where each field came from (for the report)."""

    values: dict[str, Any]
    row: int | None = None
    columns: dict[str, str] = field(default_factory=dict)

    def column(self, name: str) -> str:
        return self.columns.get(name, name)


@dataclass
class Outcome:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    records: list[dict[str, Any]] = field(default_factory=list)  # {external_id, id, result}
    errors: list[RowError] = field(default_factory=list)

    def merge(self, other: Outcome, keep_records: bool = False) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.deleted += other.deleted
        if keep_records:
            self.records.extend(other.records)


@dataclass(frozen=True)
class _Ref:
    table: str
    key: str


_UNKNOWN = object()  # a reference that resolved to nothing (its row error is already in the report)


class References:
    """External id / natural key → our id, per table, with a bounded cache that lives for one run."""

    def __init__(self) -> None:
        self._cache: dict[str, OrderedDict[str, int]] = {}

    def forget(self, table: str) -> None:
        self._cache.pop(table, None)

    def resolve(self, session: Session, table: str, keys: Iterable[str]) -> dict[str, int]:
        cache = self._cache.setdefault(table, OrderedDict())
        out = {k: cache[k] for k in keys if k in cache}
        missing = [k for k in set(keys) if k not in out]
        if table == "accounts":
            via = [k for k in missing if k.startswith(VIA_CONTACT)]
            contacts = self.resolve(session, "contacts", [k[len(VIA_CONTACT):] for k in via]) if via else {}
            if contacts:
                account_of = dict(session.execute(select(m.Contact.id, m.Contact.account_id)
                                                  .where(m.Contact.id.in_(contacts.values()))).tuples().all())
                for k in via:
                    contact = contacts.get(k[len(VIA_CONTACT):])
                    if contact is not None:
                        out[k] = cache[k] = account_of[contact]
            missing = [k for k in missing if not k.startswith(VIA_CONTACT)]
        if missing:
            t = m.Base.metadata.tables[table]
            natural = NATURAL_KEYS.get(table)
            for i in range(0, len(missing), IN_CHUNK):
                chunk = missing[i : i + IN_CHUNK]
                if table not in NO_EXTERNAL_ID:
                    query = select(t.c.id, t.c.external_id).where(t.c.external_id.in_(chunk))
                    for row_id, ext in session.execute(query):
                        out[str(ext)] = int(row_id)
                left = [k for k in chunk if k not in out]
                if natural and left:
                    for row_id, nat in session.execute(select(t.c.id, t.c[natural]).where(t.c[natural].in_(left))):
                        out.setdefault(str(nat), int(row_id))
            for k in missing:
                if k in out:
                    cache[k] = out[k]
            while len(cache) > REF_CACHE_SIZE:
                cache.popitem(last=False)
        return out


def _label(table: str) -> str:
    return {"users": "user", "departments": "department", "accounts": "account", "contacts": "contact",
            "products": "product", "opportunities": "opportunity", "partners": "partner", "teams": "team",
            "roles": "role", "tickets": "ticket", "contracts": "contract", "devices": "device",
            "leads": "lead", "campaigns": "campaign"}.get(table, table)


def _how(table: str, key: str = "") -> str:
    if key.startswith(VIA_CONTACT):
        return f"no contact {key[len(VIA_CONTACT):]!r} to take the account from"
    natural = NATURAL_KEYS.get(table)
    if table in NO_EXTERNAL_ID:
        return f"no {_label(table)} with that {natural}"
    return f"no {_label(table)} with that external id" + (f" or {natural}" if natural else "")


class Upserter:
    """Upserts batches of one object type in the caller's session."""

    def __init__(self, object_type: str, *, allow_ids: bool = False, references: References | None = None,
                 want_records: bool = False) -> None:
        self.spec: ObjectSpec = spec_for(object_type)
        self.model: Any = self.spec.model
        self.table: Any = self.model.__table__
        self.allow_ids = allow_ids  # the demo keeps its documented ids; the API and files never set ours
        self.refs = references or References()
        self.want_records = want_records
        self._defaults = {c.key: c.default for c in self.table.c if c.default is not None}

    # --- parsing ------------------------------------------------------------------------------
    def _parse(self, item: Item, errors: list[RowError]) -> tuple[str | None, dict[str, Any]]:
        spec, out = self.spec, {}
        raw_ext = item.values.get("external_id")
        ext = None if blank(raw_ext) else str(raw_ext).strip()
        if ext is None:
            errors.append(RowError(item.row, item.column("external_id"), raw_ext,
                                   "missing external_id: every record needs the host CRM's id"))
        elif len(ext) > 120:
            errors.append(RowError(item.row, item.column("external_id"), ext[:40] + "…", "longer than 120 characters"))
            ext = None
        for name, raw in item.values.items():
            if name == "external_id":
                continue
            if name == "id":
                if not self.allow_ids:
                    errors.append(RowError(item.row, item.column(name), raw,
                                           "id is the copilot's own key; identify records by external_id", ext))
                    continue
                out["id"] = int(raw)
                continue
            fspec = spec.field_for(name)
            if fspec is None:
                errors.append(RowError(item.row, item.column(name), raw,
                                       f"unknown field {name!r} for {spec.name}", ext))
                continue
            try:
                out[fspec.name] = self._value(fspec, raw)
            except ValueError as exc:
                errors.append(RowError(item.row, item.column(name), raw, str(exc), ext))
        return ext, out

    @staticmethod
    def _value(fspec: FieldSpec, raw: Any) -> Any:
        if fspec.kind == "ref":
            if blank(raw):
                return None
            if isinstance(raw, (dict, list, bool)):
                raise ValueError(f"a reference is the {_label(fspec.ref or '')}'s external id (text)")
            return _Ref(fspec.ref or "", str(raw).strip())
        if fspec.kind == "list":
            if blank(raw):
                return []
            parts = raw if isinstance(raw, list) else str(raw).split(";")
            if not all(isinstance(p, (str, int)) for p in parts):
                raise ValueError("a list of external ids or names")
            return [_Ref(fspec.ref or "", str(p).strip()) for p in parts if str(p).strip()]
        return convert(fspec, raw)

    # --- the batch ------------------------------------------------------------------------------
    def apply(self, session: Session, items: list[Item], *, dry_run: bool = False) -> Outcome:
        """Validate and write ``items``; on any row error nothing is written and ``errors`` says why."""
        outcome = Outcome()
        errors = outcome.errors
        parsed: list[tuple[Item, str, dict[str, Any]]] = []
        first_row: dict[str, Item] = {}
        for item in items:
            ext, values = self._parse(item, errors)
            if ext is None:
                continue
            if ext in first_row:
                seen = first_row[ext].row
                errors.append(RowError(item.row, item.column("external_id"), ext,
                                       f"duplicate external_id (also at row {seen})" if seen else
                                       "duplicate external_id in this batch", ext))
                continue
            first_row[ext] = item
            parsed.append((item, ext, values))

        existing = self._existing(session, [ext for _, ext, _ in parsed])
        self._adopt_natural_keys(session, parsed, existing, errors)
        deferred = self._resolve(session, parsed, errors)
        self._check(session, parsed, existing, errors)
        if errors or dry_run:
            if not errors:
                for _, ext, _ in parsed:
                    outcome.records.append({"external_id": ext, "result": "updated" if ext in existing else "created"})
                outcome.created = sum(1 for r in outcome.records if r["result"] == "created")
                outcome.updated = len(outcome.records) - outcome.created
            return outcome
        try:
            self._write(session, parsed, existing, deferred, outcome)
        except IntegrityError as exc:  # a race with another writer, or a constraint we do not model
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            outcome.errors.append(RowError(None, None, None, f"the database refused the batch: {reason}"))
        return outcome

    def _existing(self, session: Session, exts: list[str]) -> dict[str, dict[str, Any]]:
        t, out = self.table, {}
        if exts and session.get_bind().dialect.name == "postgresql":
            # One array parameter instead of hundreds: PostgreSQL plans "= ANY($1)" far faster than a long IN.
            ids = bindparam("ids", exts, type_=postgresql.ARRAY(String))
            for row in session.execute(select(t).where(t.c.external_id == any_(ids))).mappings():
                out[str(row["external_id"])] = dict(row)
            return out
        for i in range(0, len(exts), IN_CHUNK):
            for row in session.execute(select(t).where(t.c.external_id.in_(exts[i : i + IN_CHUNK]))).mappings():
                out[str(row["external_id"])] = dict(row)
        return out

    def _adopt_natural_keys(self, session: Session, parsed: list[tuple[Item, str, dict[str, Any]]],
                            existing: dict[str, dict[str, Any]], errors: list[RowError]) -> None:
        """A row made here (the demo's users, departments...) is taken over by the first external id that
        names its natural key; a natural key already held by another external id is an error."""
        natural = NATURAL_KEYS.get(self.spec.table)
        if not natural:
            return
        wanted = {str(v[natural]): (item, ext) for item, ext, v in parsed if ext not in existing and v.get(natural)}
        if not wanted:
            return
        t = self.table
        keys = list(wanted)
        for i in range(0, len(keys), IN_CHUNK):
            for row in session.execute(select(t).where(t.c[natural].in_(keys[i : i + IN_CHUNK]))).mappings():
                item, ext = wanted[str(row[natural])]
                if row["external_id"] is None:
                    existing[ext] = dict(row)
                else:
                    errors.append(RowError(item.row, item.column(natural), row[natural],
                                           f"{natural} already belongs to external id {row['external_id']!r}", ext))

    def _resolve(self, session: Session, parsed: list[tuple[Item, str, dict[str, Any]]],
                 errors: list[RowError]) -> list[tuple[str, str, _Ref]]:
        """Replace every _Ref by our id; unknown ones are row errors. Self-references to rows of this same
        batch (a department's parent, a user's manager) are returned as deferred: set after the insert."""
        wanted: dict[str, set[str]] = {}
        for _, _, values in parsed:
            for v in values.values():
                for ref in v if isinstance(v, list) else [v]:  # a JSON list of tags holds no _Ref: skipped
                    if isinstance(ref, _Ref):
                        wanted.setdefault(ref.table, set()).add(ref.key)
        found = {table: self.refs.resolve(session, table, keys) for table, keys in wanted.items()}
        natural = NATURAL_KEYS.get(self.spec.table)
        in_batch = {ext for _, ext, _ in parsed} | (
            {str(v[natural]) for _, _, v in parsed if v.get(natural)} if natural else set())
        deferred: list[tuple[str, str, _Ref]] = []
        for item, ext, values in parsed:
            for name, v in list(values.items()):
                if isinstance(v, _Ref):
                    if v.key in found[v.table]:
                        values[name] = found[v.table][v.key]
                    elif v.table == self.spec.table and v.key in in_batch:
                        values[name] = None
                        deferred.append((ext, name, v))
                    else:
                        values[name] = _UNKNOWN  # reported: never silently nulled, never written
                        errors.append(RowError(item.row, item.column(name), v.key,
                                               f"unknown {_label(v.table)} ({_how(v.table, v.key)})", ext))
                elif isinstance(v, list) and name in self.spec.fields and self.spec.fields[name].kind == "list":
                    ids = []
                    for ref in v:
                        if ref.key in found[ref.table]:
                            ids.append(found[ref.table][ref.key])
                        else:
                            errors.append(RowError(item.row, item.column(name), ref.key,
                                                   f"unknown {_label(ref.table)} ({_how(ref.table)})", ext))
                    values[name] = ids
        return deferred

    def _check(self, session: Session, parsed: list[tuple[Item, str, dict[str, Any]]],
               existing: Mapping[str, dict[str, Any]], errors: list[RowError]) -> None:
        spec = self.spec
        owner_ids = {v["owner_id"] for _, ext, v in parsed if isinstance(v.get("owner_id"), int)
                     and "department_id" not in v and ext not in existing}
        owner_dept: dict[int, int | None] = {}
        if owner_ids and "department_id" in spec.fields:
            query = select(m.User.id, m.User.department_id).where(m.User.id.in_(owner_ids))
            owner_dept = dict(session.execute(query).tuples().all())
        for item, ext, values in parsed:
            if ext not in existing:
                if spec.fields.get("department_id") and spec.fields["department_id"].default_from_owner \
                        and "department_id" not in values and values.get("owner_id"):
                    # A record's owning department is its owner's, as in the host CRMs, unless given.
                    values["department_id"] = owner_dept.get(values["owner_id"])  # type: ignore[arg-type]
                for fname, fspec in spec.fields.items():
                    if fspec.required and values.get(fname) is None and not self._reported(errors, item, fname):
                        errors.append(RowError(item.row, item.column(fname), values.get(fname),
                                               f"{fname} is required for a new {spec.name}", ext))
            else:
                for fname, fspec in spec.fields.items():
                    if fspec.required and fname in values and values[fname] is None \
                            and not self._reported(errors, item, fname):
                        errors.append(RowError(item.row, item.column(fname), None, f"{fname} cannot be empty", ext))
            if spec.name == "sharing_rule":
                self._check_rule(item, ext, {**existing.get(ext, {}), **values}, errors)

    @staticmethod
    def _reported(errors: list[RowError], item: Item, fname: str) -> bool:
        return any(e.row == item.row and e.column == item.column(fname) for e in errors if item.row is not None)

    @staticmethod
    def _check_rule(item: Item, ext: str, rule: Mapping[str, Any], errors: list[RowError]) -> None:
        object_type = rule.get("object_type")
        if object_type not in m.OWNED_TYPES:
            errors.append(RowError(item.row, item.column("object_type"), object_type,
                                   f"sharing rules apply to {', '.join(m.OWNED_TYPES)}", ext))
            return
        if rule.get("source_kind") == "department" and not rule.get("source_department_id"):
            errors.append(RowError(item.row, item.column("source_department_id"), None,
                                   "a department rule needs source_department_id", ext))
        if rule.get("source_kind") == "condition":
            cond = rule.get("condition")
            try:
                if not isinstance(cond, dict):
                    raise BadRequest("a condition rule needs condition {field, op, value}")
                validate_condition(str(object_type), cond)
            except BadRequest as exc:
                errors.append(RowError(item.row, item.column("condition"), cond, exc.message, ext))
        target = {"role": "target_role", "department": "target_department_id", "user": "target_user_id",
                  "team": "target_team_id"}.get(str(rule.get("target_kind")))
        if target and not rule.get(target):
            errors.append(RowError(item.row, item.column(target), None,
                                   f"a {rule.get('target_kind')} rule needs {target}", ext))

    # --- writing --------------------------------------------------------------------------------
    def _write(self, session: Session, parsed: list[tuple[Item, str, dict[str, Any]]],
               existing: dict[str, dict[str, Any]], deferred: list[tuple[str, str, _Ref]], outcome: Outcome) -> None:
        lists = set(self.spec.fields) - set(self.table.c.keys())
        new_rows, changes, link_updates = [], [], []
        ids: dict[str, int] = {}
        moved_users: list[tuple[int, int | None, int | None]] = []
        for _, ext, values in parsed:
            columns = {k: v for k, v in values.items() if k not in lists}
            if ext in existing:
                old = existing[ext]
                ids[ext] = int(old["id"])
                # A blank cell never blanks a NOT NULL column that has a default: it keeps its value.
                changed = {k: v for k, v in columns.items() if old.get(k) != v and k != "id"
                           and not (v is None and k in self._defaults and not self.table.c[k].nullable)}
                if old.get("external_id") is None:
                    changed["external_id"] = ext
                if changed:
                    changes.append({"id": old["id"], **changed})
                    outcome.updated += 1
                    result = "updated"
                    if self.spec.name == "user" and "department_id" in changed:
                        moved_users.append((int(old["id"]), old.get("department_id"), changed["department_id"]))
                else:
                    result = "unchanged"
                link_updates.append((ext, values))
                if result == "unchanged" and any(k in values for k in lists):
                    result = "updated" if self._links_differ(session, int(old["id"]), values) else result
                    if result == "updated":
                        outcome.updated += 1
                outcome.unchanged += result == "unchanged"
                if self.want_records:
                    outcome.records.append({"external_id": ext, "id": ids[ext], "result": result})
            else:
                new_rows.append({**columns, "external_id": ext})
                link_updates.append((ext, values))
        if new_rows:
            new_rows = self._normalise(new_rows)
            need_ids = self.want_records or bool(deferred) or bool(lists)
            if need_ids:
                result_rows = session.execute(insert(self.table).returning(self.table.c.id, self.table.c.external_id),
                                              new_rows)
                for row_id, ext in result_rows:
                    ids[str(ext)] = int(row_id)
            else:
                session.execute(insert(self.table), new_rows)
            outcome.created += len(new_rows)
            if self.want_records:
                outcome.records.extend({"external_id": r["external_id"], "id": ids.get(r["external_id"]),
                                        "result": "created"} for r in new_rows)
        if changes:
            session.execute(update(self.model), changes)
        for ext, name, ref in deferred:
            target = self.refs.resolve(session, ref.table, [ref.key]).get(ref.key)
            session.execute(update(self.table).where(self.table.c.id == ids[ext]).values({name: target}))
        for ext, values in link_updates:
            self._replace_links(session, ids.get(ext), values)
        if self.spec.name == "department":
            self.refs.forget("departments")
            recompute_department_paths(session)
        for user_id, old_dept, new_dept in moved_users:
            carry_records(session, user_id, old_dept, new_dept)

    def _normalise(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One key set for the whole INSERT (an executemany needs it): a field a row leaves out, or leaves
        blank where the column has a default ("" for a description, "B" for a tier, now for created_at),
        takes that default, as a row made here would."""
        keys = set().union(*rows)
        out = []
        for row in rows:
            full = dict(row)
            for key in keys:
                if full.get(key) is None:
                    default = self._defaults.get(key)
                    if default is None:
                        full.setdefault(key, None)
                    elif getattr(default, "is_scalar", False):
                        full[key] = default.arg  # type: ignore[attr-defined]
                    else:
                        full[key] = default.arg(None)  # type: ignore[attr-defined]
            out.append(full)
        return out

    def _links_differ(self, session: Session, row_id: int, values: Mapping[str, Any]) -> bool:
        if "roles" in values:
            have = set(session.scalars(select(m.UserRole.role_id).where(m.UserRole.user_id == row_id)))
            return have != set(values["roles"])
        if "members" in values:
            have = set(session.scalars(select(m.TeamMember.user_id).where(m.TeamMember.team_id == row_id)))
            return have != set(values["members"])
        return False

    @staticmethod
    def _replace_links(session: Session, row_id: int | None, values: Mapping[str, Any]) -> None:
        if row_id is None:
            return
        if "roles" in values:
            session.execute(delete(m.UserRole).where(m.UserRole.user_id == row_id))
            if values["roles"]:
                session.execute(insert(m.UserRole), [{"user_id": row_id, "role_id": r} for r in set(values["roles"])])
        if "members" in values:
            session.execute(delete(m.TeamMember).where(m.TeamMember.team_id == row_id))
            if values["members"]:
                links = [{"team_id": row_id, "user_id": u} for u in set(values["members"])]
                session.execute(insert(m.TeamMember), links)

    # --- deleting -------------------------------------------------------------------------------
    def delete(self, session: Session, external_id: str) -> dict[str, Any]:
        """Remove the record the host removed. A user is deactivated instead (their records keep their
        owner, their tokens stop working); a row others still point at is a 409 naming why."""
        t = self.table
        row_id = session.scalar(select(t.c.id).where(t.c.external_id == external_id))
        if row_id is None:
            raise NotFound(f"no {self.spec.name} with external id {external_id!r}")
        if self.spec.name == "user":
            session.execute(update(t).where(t.c.id == row_id).values(is_active=False))
            return {"external_id": external_id, "id": int(row_id), "result": "deactivated"}
        try:
            with session.begin_nested():
                session.execute(delete(t).where(t.c.id == row_id))
        except IntegrityError:
            raise Conflict(f"{self.spec.name} {external_id!r} is still referenced by other records; "
                           "move or delete those first") from None
        if self.spec.name == "department":
            recompute_department_paths(session)
        return {"external_id": external_id, "id": int(row_id), "result": "deleted"}


def recompute_department_paths(session: Session) -> None:
    """The materialised "/1/2/5/" paths, after any department change; a cycle is refused."""
    parents = dict(session.execute(select(m.Department.id, m.Department.parent_id)).tuples().all())
    paths: dict[int, str] = {}

    def path(dept: int, seen: tuple[int, ...] = ()) -> str:
        if dept in paths:
            return paths[dept]
        if dept in seen:
            raise BadRequest("department parents form a cycle")
        parent = parents.get(dept)
        paths[dept] = (path(parent, (*seen, dept)) if parent else "/") + f"{dept}/"
        return paths[dept]

    current = dict(session.execute(select(m.Department.id, m.Department.path)).tuples().all())
    for dept in parents:
        if path(dept) != current.get(dept):
            session.execute(update(m.Department).where(m.Department.id == dept).values(path=paths[dept]))


def carry_records(session: Session, user_id: int, old_dept: int | None, new_dept: int | None) -> None:
    """A user who moves department takes the records they own (and that sat in the old department) along:
    the owning department follows the owner, so the old department's managers stop seeing them."""
    for model in m.OWNED_TYPES.values():
        t: Any = model.__table__  # type: ignore[attr-defined]
        session.execute(update(t).where(t.c.owner_id == user_id, t.c.department_id == old_dept)
                        .values(department_id=new_dept))
