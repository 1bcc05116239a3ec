"""What can be imported: object types, their fields (read from the models), references and picklists.

Field names are the model's column names, the names ``GET /v1/records/{type}/{id}`` returns. A column
with a foreign key is a *reference*: its value is the referenced row's external id or, where the target
has one, its natural key (a user's username, a department's code, a product's code, ...), never our own
integer id, which the host CRM does not know.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, Integer, Numeric, String, Text

from copilot.core.errors import BadRequest
from copilot.crm import models as m

# Object type → model, in the order a whole organisation is imported (references point backwards).
IMPORTABLE: dict[str, type[m.Base]] = {
    "department": m.Department,
    "role": m.Role,
    "user": m.User,
    "team": m.Team,
    "sharing_rule": m.SharingRule,
    "product": m.Product,
    "account": m.Account,
    "contact": m.Contact,
    "lead": m.Lead,
    "opportunity": m.Opportunity,
    "activity": m.Activity,
    "device": m.Device,
    "ticket": m.Ticket,
    "contract": m.Contract,
    "receivable": m.Receivable,
    "campaign": m.Campaign,
}
PLURALS = {"opportunities": "opportunity", "activities": "activity", "sharing_rules": "sharing_rule"}

# Natural keys a reference may use instead of an external id (and that identify a row on their own).
NATURAL_KEYS: dict[str, str] = {
    "users": "username", "departments": "code", "roles": "name", "teams": "name", "products": "code",
    "partners": "name", "tickets": "number", "contracts": "number", "devices": "serial",
    "contacts": "wecom_id",  # WeCom's external_userid: how a chat archive names the customer
}
# "@contact:<key>" as an account reference: the account of that contact (a WeCom chat names only the contact).
VIA_CONTACT = "@contact:"
# Tables with no external_id column (referenced by natural key only).
NO_EXTERNAL_ID = frozenset({"partners"})

# Picklists: the canonical values a field takes (a mapping's value map turns a host's labels into these).
CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("opportunity", "stage"): m.OPPORTUNITY_STAGES,
    ("activity", "kind"): m.ACTIVITY_KINDS,
    ("ticket", "status"): m.TICKET_STATUSES,
    ("ticket", "priority"): m.TICKET_PRIORITIES,
    ("ticket", "process_node"): m.TICKET_NODES,
    ("lead", "status"): ("raw", "MQL", "SQL", "converted", "invalid"),
    ("sharing_rule", "source_kind"): ("department", "condition"),
    ("sharing_rule", "target_kind"): ("role", "department", "user", "team"),
    ("sharing_rule", "access"): ("read", "read_write"),
    ("user", "locale"): ("zh", "en"),
}
# Columns an import never sets: computed here (path, timestamps of our own) or our primary key.
COMPUTED = frozenset({"id", "path"})
# Fields that are not columns: lists kept in link tables, replaced as a whole when given.
LIST_FIELDS: dict[str, dict[str, str]] = {
    "user": {"roles": "roles"},      # role names or external ids → user_roles
    "team": {"members": "users"},    # usernames or external ids → team_members
}


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: str  # str | text | int | decimal | date | datetime | bool | json | list
    required: bool = False  # for a new row
    length: int | None = None
    ref: str | None = None  # referenced table name
    choices: tuple[str, ...] | None = None
    default_from_owner: bool = False


@dataclass(frozen=True)
class ObjectSpec:
    name: str
    model: type[m.Base]
    fields: dict[str, FieldSpec] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)  # "owner" → "owner_id"

    @property
    def table(self) -> str:
        return str(self.model.__tablename__)

    @property
    def self_referencing(self) -> bool:
        return any(f.ref == self.table for f in self.fields.values())

    def field_for(self, name: str) -> FieldSpec | None:
        return self.fields.get(name) or self.fields.get(self.aliases.get(name, ""))


def canonical_type(name: str) -> str:
    """``opportunities`` / ``Opportunity`` / ``sharing-rule`` → ``opportunity`` / ``sharing_rule``."""
    key = name.strip().lower().replace("-", "_")
    key = PLURALS.get(key, key)
    if key not in IMPORTABLE and key.endswith("s") and key[:-1] in IMPORTABLE:
        key = key[:-1]
    if key not in IMPORTABLE:
        raise BadRequest(f"unknown object type {name!r}: use one of {', '.join(IMPORTABLE)}")
    return key


def _kind(column: Any) -> str:
    t = column.type
    if isinstance(t, Boolean):
        return "bool"
    if isinstance(t, DateTime):
        return "datetime"
    if isinstance(t, Date):
        return "date"
    if isinstance(t, Numeric):
        return "decimal"
    if isinstance(t, Integer):
        return "int"
    if isinstance(t, JSON):
        return "json"
    if isinstance(t, Text):
        return "text"
    if isinstance(t, String):
        return "str"
    return "str"


@functools.cache
def spec_for(object_type: str) -> ObjectSpec:
    name = canonical_type(object_type)
    model: Any = IMPORTABLE[name]
    owned = issubclass(model, m.Owned)
    fields: dict[str, FieldSpec] = {}
    aliases: dict[str, str] = {}
    for column in model.__table__.columns:
        if column.key in COMPUTED:
            continue
        ref = next((fk.column.table.name for fk in column.foreign_keys), None)
        has_default = column.default is not None or column.server_default is not None
        fields[column.key] = FieldSpec(
            name=column.key,
            kind="ref" if ref else _kind(column),
            required=not column.nullable and not has_default and column.key != "external_id",
            length=getattr(column.type, "length", None),
            ref=ref,
            choices=CHOICES.get((name, column.key)),
            default_from_owner=owned and column.key == "department_id",
        )
        if ref and column.key.endswith("_id"):
            aliases[column.key[:-3]] = column.key
    for list_field, target in LIST_FIELDS.get(name, {}).items():
        fields[list_field] = FieldSpec(name=list_field, kind="list", ref=target)
    return ObjectSpec(name=name, model=model, fields=fields, aliases=aliases)
