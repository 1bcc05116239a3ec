"""record_qa: answer a question about the page's record, or write a 360° brief before a call.

The question is mapped to topics (record_qa_topics.yaml); each topic names fields of related records.
Answer lines are built only from ``Fact.meta["fields"]`` — the FLS-masked field dict — so a field the
asker may not see cannot come back, and a topic with nothing visible is answered "the records do not
say" rather than guessed. Every line carries the id of the record fact it came from.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from retrievers.crm_records import LABELS, TITLE_FIELD, RecordBundle, RecordRetriever, display_value, format_value
from retrievers.facts import Fact
from skills.base import SkillContext, SkillRequest, SkillResult
from skills.compose import compose, result_from

TOPICS_FILE = Path(__file__).with_name("record_qa_topics.yaml")
TEMPLATE = "record_qa"
TEMPLATE_VERSION = "2"
MAX_LINES_PER_TOPIC = 8
MAX_LINES_IN_BRIEF = 4


@dataclass(frozen=True)
class Line:
    text: str
    fact: Fact
    derived: bool = False  # owner/assignee lines: computed, not the topic's own fields


@cache
def _config() -> dict[str, Any]:
    return yaml.safe_load(TOPICS_FILE.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def detect_topics(question: str) -> list[str]:
    """Topics in the question, longest keyword first and consumed; a brief expands to its topic list."""
    cfg = _config()
    text = question.lower()
    pairs = [(str(kw).lower(), name) for name, t in cfg["topics"].items() for kw in t["keywords"]]
    pairs += [(str(kw).lower(), "__brief__") for kw in cfg["brief"]["keywords"]]
    found: list[str] = []
    for kw, name in sorted(pairs, key=lambda p: -len(p[0])):
        pattern = re.escape(kw) if not kw.isascii() else rf"(?<![a-z]){re.escape(kw)}(?![a-z])"
        if re.search(pattern, text):
            text = re.sub(pattern, " ", text)
            if name not in found:
                found.append(name)
    if "__brief__" in found:
        found.remove("__brief__")
        found = [t for t in cfg["brief"]["topics"] if t not in found] + found
    for name in list(found):
        for suppressed in cfg["topics"][name].get("suppresses", []):
            if suppressed in found:
                found.remove(suppressed)
    return found


def _label(object_type: str, key: str, locale: str) -> str:
    return LABELS[object_type][key][0 if locale == "zh" else 1]


def _field_line(fact: Fact, keys: list[str], locale: str) -> str | None:
    """``label: value`` for the requested fields the fact holds; None when it holds none of them.

    The record's own name is left out (it is the line's title), and a line with nothing but the name
    is no answer: a deal without a competitor field must not show up under "competitor".
    """
    object_type = str(fact.meta.get("object_type"))
    fields = fact.meta.get("fields") or {}
    parts = []
    for key in keys:
        if key == TITLE_FIELD.get(object_type) and object_type != "activity":
            continue
        value = fields.get(key)
        if key not in LABELS.get(object_type, {}) or value is None or value == "" or value == []:
            continue
        parts.append(f"{_label(object_type, key, locale)}: {display_value(object_type, key, value, locale)}")
    if not parts:
        return None
    sep = "；" if locale == "zh" else "; "
    return sep.join(parts)


def _receivable_status(fact: Fact, on: dt.date, locale: str) -> str | None:
    """Paid / overdue / not yet due — only when both amounts are visible to the asker (FLS)."""
    f = fact.meta.get("fields") or {}
    if "amount" not in f or "paid_amount" not in f or f.get("due_date") is None:
        return None
    amount, paid = Decimal(f["amount"]), Decimal(f["paid_amount"] or 0)
    due: dt.date = f["due_date"]
    zh = locale == "zh"
    if paid >= amount:
        return "已回款" if zh else "paid"
    if due < on:
        days = (on - due).days
        outstanding = format_value(amount - paid)
        return f"逾期 {days} 天，未收 {outstanding}" if zh else f"overdue by {days} days, {outstanding} outstanding"
    return "未到期" if zh else "not yet due"


def _derived(name: str, bundle: RecordBundle, retriever: RecordRetriever, locale: str) -> list[Line]:
    zh = locale == "zh"
    main = bundle.main
    fields = main.meta.get("fields") or {}
    lines: list[Line] = []
    if name == "owner" and fields.get("owner_id") is not None and bundle.object_type != "ticket":
        who = retriever.user_name(fields["owner_id"])
        if who:
            lines.append(Line(f"{'负责人' if zh else 'Owner'}: {who}", main, derived=True))
    if name == "assignee" and bundle.object_type == "ticket":
        who = retriever.user_name(fields.get("assignee_id"))
        text = who or ("尚未指派" if zh else "not yet assigned")
        lines.append(Line(f"{'处理人' if zh else 'Assignee'}: {text}", main, derived=True))
    return lines


# Fields that name a record rather than say something about it: repeating them is not repetition.
IDENTIFYING_FIELDS = frozenset({"name", "number", "subject", "serial", "milestone"})


def collect(
    bundle: RecordBundle, retriever: RecordRetriever, topics: list[str], ctx: SkillContext
) -> tuple[list[dict[str, Any]], list[str], list[Fact]]:
    """Sections with their lines, the topics the records do not answer, and the facts used."""
    cfg = _config()["topics"]
    locale = ctx.locale
    on = ctx.clock.today()
    limit = MAX_LINES_IN_BRIEF if len(topics) > 3 else MAX_LINES_PER_TOPIC
    sections: list[dict[str, Any]] = []
    unknown: list[str] = []
    used: list[Fact] = []
    shown_fields: set[tuple[str, str]] = set()
    for topic in topics:
        spec = cfg[topic]
        lines: list[Line] = []
        shown_now: set[tuple[str, str]] = set()
        for derived in spec.get("derived", []):
            if derived != "receivable_status":
                lines.extend(_derived(derived, bundle, retriever, locale))
        # On a page of a type the topic covers, the topic is about that record, not its neighbours
        # ("what stage is this deal in" on an opportunity must not list the account's tickets).
        candidates = [bundle.main] if bundle.object_type in spec["fields"] else bundle.facts
        for fact in candidates:
            keys = spec["fields"].get(fact.meta.get("object_type"))
            if not keys:
                continue
            text = _field_line(fact, keys, locale)
            if text is None:
                continue
            if fact.meta.get("object_type") == "receivable" and "receivable_status" in spec.get("derived", []):
                status = _receivable_status(fact, on, locale)
                if status:
                    text += ("；状态: " if locale == "zh" else "; status: ") + status
            title = fact.title if fact.meta.get("object_type") != "activity" else ""
            if title:
                text = f"{title}（{text}）" if locale == "zh" else f"{title} ({text})"
            lines.append(Line(text, fact))
            shown_now.update((fact.id, key) for key in keys if key not in IDENTIFYING_FIELDS)
        # Money owed matters more than money received: overdue and open instalments first.
        lines.sort(key=lambda ln: 0 if ("逾期" in ln.text or "overdue" in ln.text) else 1)
        if not lines:
            unknown.append(spec["heading"][locale])
            continue
        lines = lines[:limit]
        kept_ids = {ln.fact.id for ln in lines if not ln.derived}
        field_pairs = {pair for pair in shown_now if pair[0] in kept_ids}
        if len(topics) <= 3 and field_pairs and field_pairs <= shown_fields:
            # "这个工单…状态" on a ticket page: the tickets topic would repeat the same fields of the
            # same record. A second topic about *other* fields of that record (stage, then amount) stays.
            continue
        sections.append(
            {"heading": spec["heading"][locale], "lines": [{"id": ln.fact.id, "text": ln.text} for ln in lines]}
        )
        used.extend(ln.fact for ln in lines)
        shown_fields |= field_pairs
    return sections, unknown, used


def run(request: SkillRequest, ctx: SkillContext) -> SkillResult:
    question = str(request.input.get("question") or request.message).strip()
    topics = detect_topics(question)
    if request.context is None:
        composed = compose(
            ctx,
            TEMPLATE,
            {"question": question, "sections": [], "unknown": [], "no_record": True},
            [],
            version=TEMPLATE_VERSION,
        )
        return result_from(ctx, "record_qa", composed, [], data={"topics": topics})
    retriever = RecordRetriever(ctx.records, ctx.locale)
    with ctx.timed("retrieval"):
        bundle = retriever.bundle(request.context.object_type, request.context.object_id)
    sections, unknown, used = collect(bundle, retriever, topics, ctx) if topics else ([], [], [])
    variables = {
        "question": question,
        "record_title": bundle.main.title,
        "sections": sections,
        "unknown": unknown if sections else [],
        "no_record": False,
        # v1 of the template reads a flat fact list; passing it keeps record_qa@1 renderable (preview).
        "facts": [{"id": f.id, "label": f.title, "text": f.text} for f in {f.id: f for f in used}.values()],
    }
    composed = compose(ctx, TEMPLATE, variables, used, version=TEMPLATE_VERSION)
    return result_from(
        ctx,
        "record_qa",
        composed,
        used,
        data={"topics": topics, "unanswered": unknown if topics else ["*"], "record": bundle.main.id},
    )
