"""The demo organisation as import files: ``build_demo``'s rows → one JSONL file per importable object
type (our field names, references by external id, the demo's documented ids kept), which ``install``
then brings in through the importer, as a customer's own export would come in.

External ids are ``demo-<type>-<id>``; a reference to a partner (not an importable type) is its name.
Rows of child tables the importer does not take (stage history, ticket messages, revenues, campaign
members, service events, record teams, department heads, object settings, field permissions, partners)
stay with the bulk loader.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from copilot.crm import models as m
from copilot.demo.generator import DemoData, Row
from copilot.sync.objects import COMPUTED, IMPORTABLE

TYPE_OF_TABLE = {model.__tablename__: name for name, model in IMPORTABLE.items()}
LINK_MODELS = (m.UserRole, m.TeamMember)  # carried as users' "roles" and teams' "members"


def external_id(object_type: str, row_id: Any) -> str:
    return f"demo-{object_type}-{row_id}"


def _plain(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def import_rows(data: DemoData, object_type: str) -> list[Row]:
    model: Any = IMPORTABLE[object_type]
    partner_name = {p["id"]: p["name"] for p in data.rows.get(m.Partner, [])}
    fks = {c.key: next(iter(c.foreign_keys)).column.table.name for c in model.__table__.columns if c.foreign_keys}
    role_name = {r["id"]: r["name"] for r in data.rows.get(m.Role, [])}
    roles: dict[int, list[str]] = {}
    for link in data.rows.get(m.UserRole, []):
        roles.setdefault(link["user_id"], []).append(role_name[link["role_id"]])
    members: dict[int, list[str]] = {}
    for link in data.rows.get(m.TeamMember, []):
        members.setdefault(link["team_id"], []).append(external_id("user", link["user_id"]))
    out = []
    for row in data.rows.get(model, []):
        record: Row = {"id": row["id"], "external_id": external_id(object_type, row["id"])}
        for key, value in row.items():
            if key in COMPUTED or key == "external_id":
                continue
            target = fks.get(key)
            if target and value is not None:
                value = partner_name[value] if target == "partners" else external_id(TYPE_OF_TABLE[target], value)
            record[key] = _plain(value)
        if object_type == "user":
            record["roles"] = roles.get(row["id"], [])
        if object_type == "team":
            record["members"] = members.get(row["id"], [])
        out.append(record)
    return out


def write_import_files(data: DemoData, folder: Path) -> list[tuple[Path, str]]:
    """One ``<type>.jsonl`` per importable type that has rows, in import order."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for object_type in IMPORTABLE:
        rows = import_rows(data, object_type)
        if not rows:
            continue
        path = folder / f"{object_type}.jsonl"
        with path.open("w", encoding="utf-8") as fh:
            for record in rows:
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        written.append((path, object_type))
    return written


def loader_rows(data: DemoData) -> DemoData:
    """What the bulk loader still writes: every table the importer does not."""
    imported = set(IMPORTABLE.values()) | set(LINK_MODELS)
    return DemoData({model: rows for model, rows in data.rows.items() if model not in imported})
