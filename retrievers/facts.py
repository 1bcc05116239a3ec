"""A Fact: one piece of grounded evidence a skill may cite (a CRM record line or a KB chunk)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class Fact:
    id: str  # "crm:opportunity:12" | "kb:<chunk_id>"
    type: Literal["kb", "crm"]
    title: str
    text: str
    meta: dict[str, Any] = field(default_factory=dict)
