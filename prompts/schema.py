"""The template file format as one closed pydantic model: a mistyped key is a load error, not a no-op."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

VariableType = Literal["str", "int", "float", "bool", "list", "dict", "object"]
Locale = Literal["zh", "en"]
LOCALES: tuple[str, ...] = ("zh", "en")

_SEMVER = re.compile(r"^\d+(\.\d+){0,2}$")


def normalise_version(value: object) -> str:
    """``1``, ``"1"``, ``"v1"`` and ``"1.2.0"`` are versions; anything else is not."""
    text = str(value).strip()
    if text[:1] in ("v", "V"):
        text = text[1:]
    if isinstance(value, bool) or not _SEMVER.match(text):
        raise ValueError(f"version must be an integer or semver like 1.2.0, got {value!r}")
    return text


def version_key(version: str) -> tuple[int, int, int]:
    parts = [int(p) for p in version.split(".")] + [0, 0]
    return (parts[0], parts[1], parts[2])


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VariableSpec(_Closed):
    type: VariableType
    description: str = ""
    required: bool = True
    # Used when ``required`` is false and the caller passes nothing.
    default: Any = None


class ModelOptions(_Closed):
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, gt=0)


class TemplateSpec(_Closed):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    version: str
    locale: Locale
    description: str
    skill: str | None = None
    variables: dict[str, VariableSpec] = Field(default_factory=dict)
    output_schema: dict[str, Any] | None = None
    options: ModelOptions = ModelOptions()
    system: str
    user: str
    # What the offline provider answers: composed from the grounded facts, no model involved.
    offline: str

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, value: object) -> str:
        return normalise_version(value)
