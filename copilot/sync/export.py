"""Export CRM rows as import files in our field names (the importer's default mapping), references written
as the referenced row's external id (or natural key): what ``crm-copilot import`` reads back unchanged.
Used by the round-trip test and by anyone moving an organisation between databases."""

from __future__ import annotations

import csv
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from copilot.crm import models as m
from copilot.sync.objects import NATURAL_KEYS, NO_EXTERNAL_ID, spec_for


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _keys(session: Session, table: str) -> dict[int, str]:
    """Our id → how an import file names that row (external id, else natural key)."""
    t = m.Base.metadata.tables[table]
    natural = NATURAL_KEYS.get(table)
    cols = [t.c.id] + ([] if table in NO_EXTERNAL_ID else [t.c.external_id]) + ([t.c[natural]] if natural else [])
    out = {}
    for row in session.execute(select(*cols)):
        ext = None if table in NO_EXTERNAL_ID else row[1]
        out[int(row[0])] = str(ext) if ext is not None else str(row[-1]) if natural else ""
    return out


def export_csv(session: Session, object_type: str, path: Path) -> int:
    """Write every row of ``object_type`` to ``path``; rows without an external id get ``<type>-<id>``."""
    spec = spec_for(object_type)
    table: Any = spec.model.__table__
    columns = [f for f in spec.fields if f in table.c]
    refs = {f: _keys(session, spec.fields[f].ref or "") for f in columns if spec.fields[f].kind == "ref"}
    roles: dict[int, list[str]] | None = None
    members: dict[int, list[str]] | None = None
    if spec.name == "user":
        names = dict(session.execute(select(m.Role.id, m.Role.name)).tuples().all())
        roles = {}
        for uid, rid in session.execute(select(m.UserRole.user_id, m.UserRole.role_id)):
            roles.setdefault(uid, []).append(names[rid])
    if spec.name == "team":
        users = _keys(session, "users")
        members = {}
        for tid, uid in session.execute(select(m.TeamMember.team_id, m.TeamMember.user_id)):
            members.setdefault(tid, []).append(users[uid])
    header = ["external_id", *[c for c in columns if c != "external_id"]]
    header += ["roles"] if roles is not None else ["members"] if members is not None else []
    n = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for row in session.execute(select(table).order_by(table.c.id)).mappings():
            cells = []
            for col in header:
                if col == "external_id":
                    cells.append(row["external_id"] or f"{spec.name}-{row['id']}")
                elif col == "roles":
                    cells.append(";".join(sorted((roles or {}).get(row["id"], []))))
                elif col == "members":
                    cells.append(";".join(sorted((members or {}).get(row["id"], []))))
                elif col in refs:
                    cells.append(refs[col].get(row[col], "") if row[col] is not None else "")
                else:
                    cells.append(_cell(row[col]))
            writer.writerow(cells)
            n += 1
    return n
