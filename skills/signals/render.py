"""Turn a Signal into an Action (title, reason, draft) in the asker's locale, from messages.yaml."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from skills.base import Action
from skills.signals.records import RecordSet
from skills.signals.scoring import Money, Signal

MESSAGES_PATH = Path(__file__).with_name("messages.yaml")
HIDDEN = "***"  # what a value the asker may not see (or that is unknown) prints as
PRIORITY_ZH = {"urgent": "紧急", "high": "高优先级", "medium": "中优先级", "low": "低优先级"}
# Greeting fallbacks, so that a draft never opens with "***" when no contact (or no name) is visible.
NO_CONTACT = {"zh": "", "en": "there"}
NO_ASSIGNEE = {"zh": "处理人", "en": "assignee"}


@lru_cache(maxsize=1)
def messages() -> dict[str, dict[str, Any]]:
    data = yaml.safe_load(MESSAGES_PATH.read_text(encoding="utf-8"))
    return dict(data)


def format_money(value: float, locale: str) -> str:
    if locale == "zh":
        if abs(value) >= 10000:
            wan = f"{value / 10000:,.2f}".rstrip("0").rstrip(".")
            return f"¥{wan}万"
        return f"¥{value:,.0f}"
    return f"RMB {value:,.0f}"


class _Fields(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return HIDDEN


def _fmt(value: Any, locale: str) -> str:
    if isinstance(value, Money):
        return format_money(float(value), locale)
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _template(kind: str, variant: str | None, part: str) -> Any:
    msgs = messages()
    if variant and part in msgs.get(f"{kind}.{variant}", {}):
        return msgs[f"{kind}.{variant}"][part]
    return msgs[kind].get(part)


def fields_for(signal: Signal, rs: RecordSet, locale: str, me: str) -> _Fields:
    fields = _Fields({k: _fmt(v, locale) for k, v in signal.facts.items()})
    fields["me"] = me
    contact = (
        next((c for c in rs.contacts.get(signal.account_id, []) if c.get("id") == signal.contact_id), None)
        if signal.account_id is not None
        else None
    )
    fields["contact"] = str(contact.get("name")) if contact and contact.get("name") else NO_CONTACT[locale]
    fields.setdefault("assignee", NO_ASSIGNEE[locale])
    if "priority" in signal.facts:
        fields["priority_zh"] = PRIORITY_ZH.get(str(signal.facts["priority"]), str(signal.facts["priority"]))
    return fields


def to_action(signal: Signal, rs: RecordSet, locale: str, me: str) -> Action:
    fields = fields_for(signal, rs, locale, me)
    channel = _template(signal.kind, signal.variant, "channel")
    draft = _template(signal.kind, signal.variant, "draft")
    return Action(
        kind=signal.kind,
        title=_template(signal.kind, signal.variant, "title")[locale].format_map(fields),
        reason=_template(signal.kind, signal.variant, "reason")[locale].format_map(fields),
        evidence=list(signal.evidence),
        draft=draft[locale].format_map(fields) if draft else None,
        channel=channel,
        score=signal.score,
    )
