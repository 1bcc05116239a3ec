"""The lookups' window on the CRM for names, and the model's proposal step — shared by ticket_lookup and
record_lookup so both resolve "华东重工", "郑凯", "上海", "DeviceCloud" the same way, among what the asker
may read (every read goes through ``ctx.records``), and ask a model the same way.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import cached_property
from typing import Any

from copilot.crm.models import Account, Product
from copilot.crm.repository import Records
from skills.base import SkillContext
from skills.compose import compose

ACCOUNT_MATCH_LIMIT = 20
PROPOSAL_TEMPLATE = "lookup_filters"


class RecordNames:
    """Names → ids among the records the asker may read (``lookup_words.Names``)."""

    def __init__(self, records: Records) -> None:
        self.records = records

    def accounts(self, fragment: str) -> list[tuple[int, str]]:
        found = self.records.rows(
            "account",
            Account.id,
            Account.name,
            where=[Account.name.contains(fragment, autoescape=True)],
            order_by=Account.id,
            limit=ACCOUNT_MATCH_LIMIT,
        )
        return [(int(i), str(n)) for i, n in found]

    def users(self, name: str) -> list[tuple[int, str]]:
        """Colleagues called exactly this (display name, its part before a bracket, or username)."""
        key = name.strip().lower()
        out = []
        for uid, username, display in self.records.users_named(name.strip()):
            stem = display.split("（")[0].split("(")[0].strip()
            if key in (display.lower(), stem.lower(), username.lower()):
                out.append((uid, display))
        return out

    @cached_property
    def _cities(self) -> list[str]:
        return sorted({str(c) for (c,) in self.records.rows("account", Account.city) if c})

    @cached_property
    def _regions(self) -> list[str]:
        return sorted({str(r) for (r,) in self.records.rows("account", Account.region) if r})

    @cached_property
    def _products(self) -> list[tuple[str, str, str, str]]:
        rows = self.records.rows("product", Product.code, Product.name, Product.name_en, Product.line)
        return [(str(c), str(n), str(e), str(ln)) for c, n, e, ln in rows]

    def cities(self) -> list[str]:
        return self._cities

    def regions(self) -> list[str]:
        return self._regions

    def products(self) -> list[tuple[str, str, str, str]]:
        return self._products


def propose_filters(
    ctx: SkillContext,
    object_type: str,
    query: str,
    understood: dict[str, Any],
    not_understood: list[str],
    schema: dict[str, Any],
    today: dt.date,
) -> dict[str, Any] | None:
    """With a model configured: its proposed filters for the whole request (JSON, schema-checked by the
    gateway), or None (offline, degraded, or not an object). The caller validates every value."""
    if ctx.composer.is_offline:
        return None
    variables = {
        "query": query,
        "object_type": object_type,
        "today": today.isoformat(),
        "understood": json.dumps(understood, ensure_ascii=False, sort_keys=True),
        "not_understood": not_understood,
        "schema": json.dumps(schema, ensure_ascii=False),
    }
    with ctx.timed("propose"):
        composed = compose(ctx, PROPOSAL_TEMPLATE, variables, [], json_schema=schema)
    if composed.degraded or not isinstance(composed.parsed, dict):
        return None
    return composed.parsed


def not_understood_note(words: list[str], locale: str, noun: str) -> str:
    if not words:
        return ""
    if locale == "zh":
        return f"没有理解：{'、'.join(words)}。为避免列出不相关的{noun}，未执行查询；请换个说法或去掉这些词。"
    return (
        f"Not understood: {', '.join(words)}. No {noun} are listed rather than more than you asked for; "
        "rephrase or drop those words."
    )


def team_of_someone_else(
    filters: dict[str, Any], not_understood: list[str], me: int, locale: str, key: str = "owner"
) -> None:
    """ "王志强团队": a named colleague's team is not something we can read (only the asker's own chain);
    say so rather than answer with that colleague's own records only."""
    ids_key = f"{key}_ids"
    if filters.get(key) == "team" and ids_key in filters:
        if filters[ids_key] == [me]:
            del filters[ids_key]
        else:
            not_understood.append("同事的团队" if locale == "zh" else "a colleague's team")
