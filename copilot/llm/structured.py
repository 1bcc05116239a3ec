"""Structured output validated with pydantic, whether the caller gave a model class or a JSON schema.

A JSON schema (from a template's ``output_schema``) is turned into a pydantic type covering the parts
templates use: object/properties/required/additionalProperties, array/items, enum, scalar types,
anyOf/oneOf, nullable types.
"""

from __future__ import annotations

import json
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, create_model

JsonSchema = dict[str, Any] | type[BaseModel]

_SCALARS: dict[str, Any] = {"string": str, "integer": int, "number": float, "boolean": bool, "null": type(None)}


class InvalidStructuredOutput(ValueError):
    pass


def _to_type(schema: dict[str, Any], name: str) -> Any:
    if "enum" in schema:
        return Literal[tuple(schema["enum"])]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return Union[tuple(_to_type(s, f"{name}_{i}") for i, s in enumerate(schema[key]))]  # noqa: UP007
    kind = schema.get("type")
    if isinstance(kind, list):
        return Union[tuple(_to_type({**schema, "type": k}, name) for k in kind)]  # noqa: UP007
    if kind == "object" or (kind is None and "properties" in schema):
        props = schema.get("properties", {})
        required = set(schema.get("required", []))
        fields: dict[str, Any] = {}
        for prop, sub in props.items():
            t = _to_type(sub, f"{name}_{prop}")
            fields[prop] = (t, ...) if prop in required else (t | None, None)
        extra: Literal["forbid", "allow"] = "forbid" if schema.get("additionalProperties") is False else "allow"
        return create_model(name, __config__=ConfigDict(extra=extra, strict=False), **fields)
    if kind == "array":
        return list[_to_type(schema.get("items", {}), f"{name}_item")]  # type: ignore[misc]
    if kind in _SCALARS:
        return _SCALARS[kind]
    return Any


def schema_name(schema: JsonSchema) -> str:
    if isinstance(schema, type):
        return schema.__name__
    return str(schema.get("title") or "output")


def as_json_schema(schema: JsonSchema) -> dict[str, Any]:
    return schema.model_json_schema() if isinstance(schema, type) else schema


def validate_json(text: str, schema: JsonSchema) -> Any:
    """The parsed value (a model instance for a model class, plain JSON data otherwise), or a clear error."""
    stripped = text.strip()
    if stripped.startswith("```"):  # models like to fence JSON even in JSON mode
        stripped = stripped.strip("`").removeprefix("json").strip()
    try:
        data = json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise InvalidStructuredOutput(
            f"model output is not JSON ({exc.msg} at char {exc.pos}): {text[:80]!r}"
        ) from None
    try:
        if isinstance(schema, type):
            return schema.model_validate(data)
        TypeAdapter(_to_type(schema, schema_name(schema))).validate_python(data)
        return data
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(root)"
        raise InvalidStructuredOutput(
            f"model output does not match the schema: {loc}: {first['msg']} ({exc.error_count()} error(s))"
        ) from None
