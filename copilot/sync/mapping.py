"""Column mappings (YAML): which source column fills which field, how its text is read, and how a host's
picklist labels become ours. Built-in mappings live in ``mappings/<name>.yaml``; ``--mapping`` also takes
a file path. Without a mapping, columns are our field names (those ``GET /v1/records`` returns).

```yaml
name: salesforce
objects:
  opportunity:
    columns:
      Id: external_id
      StageName: {field: stage, map: {Prospecting: 线索验证, Closed Won: 赢单}}
      CloseDate: {field: close_date, format: "%Y-%m-%d"}
    constants: {probability: 10}     # fields every row gets
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from copilot.core.errors import BadRequest
from copilot.sync.convert import blank, from_epoch_ms, parse_date, parse_datetime
from copilot.sync.objects import canonical_type, spec_for
from copilot.sync.upsert import Item, RowError

BUILTIN_DIR = Path(__file__).with_name("mappings")
TRANSFORMS = ("strip", "lower", "upper", "epoch_ms", "date", "datetime", "split", "prefix")


@dataclass(frozen=True)
class Column:
    source: str
    field: str
    value_map: dict[str, Any] | None = None
    transform: str | None = None
    format: str | None = None
    default: Any = None
    prefix: str = ""
    optional: bool = False
    append: tuple[str, ...] = ()  # more columns joined onto this one (LastName + FirstName → name)
    separator: str = ""


@dataclass(frozen=True)
class ObjectMapping:
    object_type: str
    columns: tuple[Column, ...] = ()
    constants: dict[str, Any] = field(default_factory=dict)
    converter: str | None = None  # a named converter (wecom-archive) that turns source rows into records

    @property
    def identity(self) -> bool:
        return not self.columns and self.converter is None

    def check_header(self, header: list[str] | None) -> list[str]:
        """File-level problems with the columns (nothing is imported when there are any)."""
        if header is None:
            return []
        problems: list[str] = []
        seen = [h for h in header if h]
        dupes = sorted({h for h in seen if seen.count(h) > 1})
        if dupes:
            problems.append(f"column {dupes[0]!r} appears twice in the header")
        spec = spec_for(self.object_type)
        if self.identity:
            for h in seen:
                if h not in ("external_id", "id") and spec.field_for(h) is None:
                    problems.append(f"unknown column {h!r}: {spec.name} has no such field "
                                    f"(fields: {', '.join(spec.fields)}); or give --mapping")
            if "external_id" not in seen:
                problems.append("missing column 'external_id' (the host CRM's id of each record)")
            return problems
        for col in self.columns:
            target = spec.field_for(col.field)
            needed = col.field == "external_id" or (target is not None and target.required)
            if col.source not in seen and needed and not col.optional and col.default is None:
                problems.append(f"missing column {col.source!r} (maps to {col.field})")
        return problems

    def to_item(self, row: int, values: dict[str, Any]) -> tuple[Item, list[RowError]]:
        """One source row → the fields to upsert, with value-map and transform errors for the report."""
        errors: list[RowError] = []
        if not self.columns:  # our field names (or a converter's records, which use them too)
            return Item(values={k: v for k, v in values.items() if k}, row=row), errors
        out: dict[str, Any] = dict(self.constants)
        where: dict[str, str] = {}
        for col in self.columns:
            raw = values.get(col.source)
            if col.append:
                parts = [values.get(c) for c in (col.source, *col.append)]
                raw = col.separator.join(str(p).strip() for p in parts if not blank(p)) or None
            try:
                value = self._apply(col, raw)
            except ValueError as exc:
                errors.append(RowError(row, col.source, raw, str(exc)))
                continue
            if value is None and col.source not in values:
                continue  # an absent optional column leaves the field as it is
            out[col.field] = value
            where[col.field] = col.source
        return Item(values=out, row=row, columns=where), errors

    @staticmethod
    def _apply(col: Column, raw: Any) -> Any:
        if blank(raw):
            return col.default
        value = raw.strip() if isinstance(raw, str) else raw
        if col.value_map is not None:
            key = str(value)
            if key not in col.value_map:
                known = ", ".join(list(map(str, col.value_map))[:12])
                raise ValueError(f"no mapping for value {key!r} (the mapping knows: {known})")
            value = col.value_map[key]
        t = col.transform
        if t == "lower":
            value = str(value).lower()
        elif t == "upper":
            value = str(value).upper()
        elif t == "epoch_ms":
            value = from_epoch_ms(value)
        elif t == "date":
            value = parse_date(value, col.format)
        elif t == "datetime":
            value = parse_datetime(value, col.format)
        elif t == "split":
            value = [p.strip() for p in str(value).replace("；", ";").split(";") if p.strip()]
        if col.prefix:
            value = col.prefix + str(value)
        return value


@dataclass(frozen=True)
class Mapping:
    name: str
    objects: dict[str, ObjectMapping]
    description: str = ""

    def for_object(self, object_type: str) -> ObjectMapping:
        key = canonical_type(object_type)
        if key not in self.objects:
            raise BadRequest(f"mapping {self.name!r} has nothing for {key} (it maps: {', '.join(self.objects)})")
        return self.objects[key]


def builtin_names() -> list[str]:
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml"))


def load_mapping(name_or_file: str | None) -> Mapping | None:
    """A built-in mapping by name, or one from a YAML file; None for the identity mapping."""
    if not name_or_file:
        return None
    path = BUILTIN_DIR / f"{name_or_file}.yaml"
    if not path.is_file():
        path = Path(name_or_file)
        if not path.is_file():
            raise BadRequest(f"unknown mapping {name_or_file!r}: built-in ones are {', '.join(builtin_names())}, "
                             "or give a YAML file")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise BadRequest(f"mapping {path.name}: not valid YAML ({exc})") from exc
    return parse_mapping(raw, path.stem)


def parse_mapping(raw: Any, default_name: str = "mapping") -> Mapping:
    if not isinstance(raw, dict) or not isinstance(raw.get("objects"), dict):
        raise BadRequest(f"mapping {default_name}: expected a mapping with an 'objects' section")
    objects: dict[str, ObjectMapping] = {}
    for type_name, body in raw["objects"].items():
        object_type = canonical_type(str(type_name))
        spec = spec_for(object_type)
        body = body or {}
        columns = []
        entries = [(source, t) for source, targets in (body.get("columns") or {}).items()
                   for t in (targets if isinstance(targets, list) else [targets])]  # one column may fill two fields
        for source, target in entries:
            entry = {"field": target} if isinstance(target, str) else dict(target or {})
            fname = entry.get("field")
            if not fname or (fname not in ("external_id", "id") and spec.field_for(str(fname)) is None):
                raise BadRequest(f"mapping {default_name}: column {source!r} of {object_type} maps to unknown "
                                 f"field {fname!r}")
            if entry.get("transform") not in (None, *TRANSFORMS):
                raise BadRequest(f"mapping {default_name}: unknown transform {entry['transform']!r} "
                                 f"(use {', '.join(TRANSFORMS)})")
            vmap = entry.get("map")
            columns.append(Column(
                source=str(source), field=str(spec.aliases.get(str(fname), fname)),
                value_map={str(k): v for k, v in vmap.items()} if isinstance(vmap, dict) else None,
                transform=entry.get("transform"), format=entry.get("format"), default=entry.get("default"),
                prefix=str(entry.get("prefix") or ""), optional=bool(entry.get("optional", False)),
                append=tuple(entry.get("append") or ()), separator=str(entry.get("separator") or ""),
            ))
        objects[object_type] = ObjectMapping(object_type, tuple(columns), dict(body.get("constants") or {}),
                                             body.get("converter"))
    return Mapping(str(raw.get("name") or default_name), objects, str(raw.get("description") or ""))
