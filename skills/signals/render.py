"""Turn a Signal into an Action (title, reason, draft) from messages.yaml.

Title and reason are in the asker's locale (they read them); the draft is in the language of the person
it goes to — a Chinese contact gets a Chinese draft even when the asker's UI is English — unless the
asker asked for a language. Drafts name real people from the records, never a placeholder.
"""

from __future__ import annotations

import datetime as dt
import re
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
# An unassigned ticket: the request goes to the service desk (a real team), not to "@处理人".
NO_ASSIGNEE = {"zh": "服务台同事", "en": "service desk"}
CUSTOMER_CHANNELS = ("wecom", "email")


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


def contact_for(signal: Signal, rs: RecordSet) -> dict[str, Any] | None:
    if signal.account_id is None or signal.contact_id is None:
        return None
    return next((c for c in rs.contacts.get(signal.account_id, []) if c.get("id") == signal.contact_id), None)


def draft_language(signal: Signal, rs: RecordSet, locale: str, asked: str | None = None) -> str:
    """What language the draft is in: what the asker asked for, else the contact's (customer-facing
    drafts), else the asker's locale."""
    if asked in ("zh", "en"):
        return asked
    channel = _template(signal.kind, signal.variant, "channel")
    contact = contact_for(signal, rs)
    lang = str(contact.get("language") or "") if contact else ""
    if channel in CUSTOMER_CHANNELS and lang[:2] in ("zh", "en"):
        return lang[:2]
    return locale


def fields_for(signal: Signal, rs: RecordSet, locale: str, me: str) -> _Fields:
    fields = _Fields({k: _fmt(v, locale) for k, v in signal.facts.items()})
    fields["me"] = me
    contact = contact_for(signal, rs)
    fields["contact"] = str(contact.get("name")) if contact and contact.get("name") else NO_CONTACT[locale]
    fields.setdefault("assignee", NO_ASSIGNEE[locale])
    if "priority" in signal.facts:
        fields["priority_zh"] = PRIORITY_ZH.get(str(signal.facts["priority"]), str(signal.facts["priority"]))
    return fields


def to_action(
    signal: Signal,
    rs: RecordSet,
    locale: str,
    me: str,
    *,
    language: str | None = None,
    tone: str | None = None,
    shorter: bool = False,
) -> Action:
    """``language``: the draft language the asker asked for (None: the contact's); ``tone``: 'formal' or
    'casual' when asked ("更正式一点"); ``shorter``: "短一点"."""
    fields = fields_for(signal, rs, locale, me)
    channel = _template(signal.kind, signal.variant, "channel")
    draft = _template(signal.kind, signal.variant, "draft")
    lang = draft_language(signal, rs, locale, language)
    text = draft[lang].format_map(fields_for(signal, rs, lang, me)) if draft else None
    if text and shorter:
        text = shortened(text)
    if text and tone:
        text = with_tone(text, tone, lang, fields_for(signal, rs, lang, me), channel)
    return Action(
        kind=signal.kind,
        title=_template(signal.kind, signal.variant, "title")[locale].format_map(fields),
        reason=_template(signal.kind, signal.variant, "reason")[locale].format_map(fields),
        evidence=list(signal.evidence),
        draft=text,
        channel=channel,
        score=signal.score,
    )


_ASIDE = re.compile(r"（[^）]*）|\s*\([^)]*\)")


def shortened(text: str) -> str:
    """A shorter draft: asides in brackets dropped, and of four or more sentences only the first two (who is
    writing, what about) and the last (the ask) kept. Facts are never rewritten, only left out."""
    text = _ASIDE.sub("", text)
    parts = [p.strip() for p in re.split(r"(?<=[。！？])\s*|(?<=[.!?])\s+", text) if p.strip()]
    if len(parts) >= 4:
        parts = [parts[0], parts[1], parts[-1]]
    sep = " " if parts and parts[0][-1:] in ".!?" else ""
    return sep.join(parts)


def with_tone(text: str, tone: str, lang: str, fields: _Fields, channel: str | None) -> str:
    """A formal or casual version of a draft: salutation and sign-off from messages.yaml (``_tone``), the
    body kept as written so every fact in it stays the one the records hold."""
    frame = (messages().get("_tone") or {}).get(tone, {}).get(lang)
    if not frame or channel not in (*CUSTOMER_CHANNELS, "internal"):
        return text
    name = fields["contact"] if channel in CUSTOMER_CHANNELS else fields["assignee"]
    body = text
    for greeting in (f"{name}您好，", f"Hi {name}, ", f"Hello {name}, ", f"Dear {name}, ", f"{name}您好"):
        if body.startswith(greeting):
            body = body[len(greeting) :]
            break
    return str(frame).format_map(_Fields({**fields, "name": name or fields["contact"], "body": body})).strip()
